export type { TaskEventsTable, TasksTable, TasksTables } from './table';
export { tasksMigrations } from './migrations';
export {
  TASKS_DEFAULT_LIMIT,
  TASKS_MAX_LIMIT,
  UNFINISHED_TASK_STATUSES,
  countUnfinishedTasksOnProplet,
  getTask,
  getTasks,
  getTaskEvents,
  getTaskOrThrow,
  listTasks,
  toTaskView,
  type ListTasksQuery,
  type TaskPage,
  type TaskTimelineEntry,
  type TaskView,
} from './queries';
export {
  appendTaskEvent,
  appendTaskEvents,
  deleteAllTasks,
  deleteTask,
  deleteTasks,
  loadTaskState,
  loadTaskStates,
  upsertTask,
  upsertTasks,
  writeTasksAndEvents,
  type TaskEventRowInput,
  type TaskRowInput,
} from './writes';
