export { COMMANDS_METRIC, TASK_DURATION_METRIC, startScheduler, type RunningScheduler, type StartSchedulerOptions } from './service';
export { taskDecider } from './task/decider';
