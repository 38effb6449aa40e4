import { v5 as uuidv5 } from 'uuid';
import { FINALIZER, type TaskResource, type TaskCrStatus } from '../crd/types';
import { TASK_SPEC_RULES, brokenRules } from '../crd/rules';
import { isTerminalTaskStatus, taskPhaseOf } from '../names';
import type { TaskDefinition, TaskState } from '../port/propeller-port';
import type { Action, CrRef } from './actions';
import { settleConditions, statusChanged, type DesiredCondition } from './conditions';
import type { PlanContext } from './proplet-plan';

/** UUIDv5 namespace of task ids made from Task CRs: `v5("tasks.propeller.absmach.fr", URL)`. */
export const TASK_ID_NAMESPACE = uuidv5('tasks.propeller.absmach.fr', uuidv5.URL);

/**
 * The Propeller task id of a Task CR: a UUIDv5 of the CR's uid. The same CR always names the same
 * task, so an operator restart (or a lost status write) never creates a second one.
 */
export const taskIdOf = (uid: string): string => uuidv5(uid, TASK_ID_NAMESPACE);

/** What the operator observed about one Task CR: the scheduler's view of its task. */
export interface TaskObserved {
  task?: TaskState;
}

const refOf = (cr: TaskResource): CrRef & { kind: 'Task' } => ({ kind: 'Task', namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name });

/** The task a Task CR asks for, with the CR's defaults applied (`functionName` = `spec.name`, `preferredPropletType` = `any`). */
export function taskDefinitionOf(cr: TaskResource): TaskDefinition {
  const s = cr.spec;
  const uid = cr.metadata.uid ?? '';
  const def: TaskDefinition = {
    id: taskIdOf(uid),
    name: s.name,
    functionName: s.functionName ?? s.name,
    inputs: [...(s.inputs ?? [])],
    cliArgs: [...(s.cliArgs ?? [])],
    env: { ...(s.env ?? {}) },
    daemon: s.daemon ?? false,
    preferredPropletType: s.preferredPropletType ?? 'any',
    propletSelector: { ...(s.propletSelector ?? {}) },
    resourceRequirements: {
      ...(s.resourceRequirements?.cpu !== undefined ? { cpu: String(s.resourceRequirements.cpu) } : {}),
      ...(s.resourceRequirements?.memory !== undefined ? { memory: String(s.resourceRequirements.memory) } : {}),
    },
    owner: { namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name, uid },
  };
  if (s.imageUrl !== undefined) def.imageUrl = s.imageUrl;
  if (s.file !== undefined) def.file = s.file;
  return def;
}

/**
 * The pure reconcile of one Task CR: one task per CR (keyed by its uid), started at once, its state
 * written back to status; deleting the CR stops the task before the finalizer is removed.
 */
export function planTask(cr: TaskResource, observed: TaskObserved, ctx: PlanContext): Action[] {
  const ref = refOf(cr);
  const hasFinalizer = cr.metadata.finalizers?.includes(FINALIZER) ?? false;
  const taskId = taskIdOf(cr.metadata.uid ?? '');
  const task = observed.task;
  const actions: Action[] = [];

  if (cr.metadata.deletionTimestamp !== undefined) {
    if (!hasFinalizer) return [];
    if (task && !isTerminalTaskStatus(task.status)) {
      actions.push({ type: 'stopTask', taskId, reason: 'TaskDeleted' });
      actions.push(event(ref, 'Normal', 'Stopping', `stopping task ${taskId} because the Task is being deleted`));
    }
    actions.push({ type: 'removeFinalizer', target: ref });
    return actions;
  }

  if (!hasFinalizer) actions.push({ type: 'addFinalizer', target: ref });
  const now = ctx.now.toISOString();
  const generation = cr.metadata.generation;

  const broken = brokenRules(TASK_SPEC_RULES, cr.spec);
  if (broken.length > 0 && !task) {
    const message = broken.join('; ');
    const status: TaskCrStatus = {
      ...(cr.status ?? {}),
      phase: 'Failed',
      error: `invalid spec: ${message}`,
      conditions: settleConditions(cr.status?.conditions, [{ type: 'Scheduled', status: 'False', reason: 'InvalidSpec', message }], now, generation),
    };
    if (statusChanged(cr.status, status)) {
      actions.push({ type: 'patchStatus', target: ref, status });
      actions.push(event(ref, 'Warning', 'InvalidSpec', message));
    }
    return actions;
  }

  if (!task) {
    actions.push({ type: 'createTask', task: taskDefinitionOf(cr) });
    actions.push({ type: 'startTask', taskId });
    actions.push(event(ref, 'Normal', 'Created', `created task ${taskId} and started it`));
  } else if (task.status === 'created') {
    // Created but not started: the operator stopped between the two calls.
    actions.push({ type: 'startTask', taskId });
  }
  if (task && cr.status?.observedGeneration !== undefined && generation !== undefined && generation !== cr.status.observedGeneration) {
    actions.push(event(ref, 'Warning', 'SpecChangeIgnored', `task ${taskId} already exists; a Task's spec is read once — delete and recreate the Task to change it`));
  }

  const status = statusOf(cr, taskId, task, now);
  if (statusChanged(cr.status, status)) {
    actions.push({ type: 'patchStatus', target: ref, status });
    actions.push(...transitionEvents(ref, cr.status, status));
  }
  return actions;
}

/** The CR status written from the task's state (or `Pending` for a task just created). */
function statusOf(cr: TaskResource, taskId: string, task: TaskState | undefined, now: string): TaskCrStatus {
  const generation = cr.metadata.generation;
  const s = task?.status ?? 'created';
  const phase = taskPhaseOf(s);
  const status: TaskCrStatus = { phase, taskId, attempts: task?.attempts ?? 0 };
  if (generation !== undefined) status.observedGeneration = generation;
  if (task?.assignedProplet !== undefined) status.assignedProplet = task.assignedProplet;
  if (task?.startedAt !== undefined) status.startTime = task.startedAt;
  if (task?.completedAt !== undefined) status.completionTime = task.completedAt;
  if (task?.results !== undefined) status.results = task.results;
  if (task?.error !== undefined && task.error !== '') status.error = task.error;
  const unschedulable = (s === 'pending' || s === 'created') && task?.unschedulableReason ? task.unschedulableReason : undefined;
  if (unschedulable !== undefined) status.unschedulableReason = unschedulable;

  const assigned = task?.assignedProplet;
  const scheduled: DesiredCondition =
    unschedulable !== undefined
      ? { type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: unschedulable }
      : assigned !== undefined && s !== 'created' && s !== 'pending'
        ? { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: `assigned to proplet ${assigned} (attempt ${task?.attempts ?? 1})` }
        : s === 'stopped' || s === 'failed'
          ? { type: 'Scheduled', status: 'False', reason: phase, message: `the task was ${s} before it was placed` }
          : { type: 'Scheduled', status: 'Unknown', reason: 'Pending', message: 'waiting for the scheduler' };
  const started: DesiredCondition =
    s === 'running' || s === 'completed' || (task?.startedAt !== undefined && (s === 'failed' || s === 'stopped'))
      ? { type: 'Started', status: 'True', reason: 'Started', message: `running on ${assigned ?? 'a proplet'}` }
      : s === 'failed' || s === 'stopped'
        ? { type: 'Started', status: 'False', reason: phase, message: `the task was ${s} before it started` }
        : { type: 'Started', status: 'Unknown', reason: 'NotStarted', message: 'not started yet' };
  const completed: DesiredCondition =
    s === 'completed'
      ? { type: 'Completed', status: 'True', reason: 'Succeeded', message: 'the task finished successfully' }
      : s === 'failed'
        ? { type: 'Completed', status: 'False', reason: 'Failed', message: task?.error ?? 'the task failed' }
        : s === 'stopped'
          ? { type: 'Completed', status: 'False', reason: 'Stopped', message: 'the task was stopped' }
          : { type: 'Completed', status: 'Unknown', reason: 'InProgress', message: 'not finished' };
  status.conditions = settleConditions(cr.status?.conditions, [scheduled, started, completed], now, generation);
  return status;
}

/** Kubernetes Events for what changed, so `kubectl describe task` tells the story. */
function transitionEvents(ref: CrRef, before: TaskCrStatus | undefined, after: TaskCrStatus): Action[] {
  const out: Action[] = [];
  if (after.unschedulableReason !== undefined && after.unschedulableReason !== before?.unschedulableReason) {
    out.push(event(ref, 'Warning', 'Unschedulable', after.unschedulableReason));
  }
  const attemptChanged = before?.attempts !== undefined && after.attempts !== undefined && after.attempts > before.attempts && before.attempts > 0;
  if (before?.phase === after.phase && !attemptChanged) return out;
  switch (after.phase) {
    case 'Scheduled':
      out.push(event(ref, 'Normal', 'Scheduled', `assigned to proplet ${after.assignedProplet ?? '?'} (attempt ${after.attempts ?? 1})`));
      break;
    case 'Running':
      out.push(event(ref, 'Normal', 'Running', `running on proplet ${after.assignedProplet ?? '?'} (attempt ${after.attempts ?? 1})`));
      break;
    case 'Completed':
      out.push(event(ref, 'Normal', 'Completed', `completed on proplet ${after.assignedProplet ?? '?'}`));
      break;
    case 'Failed':
      out.push(event(ref, 'Warning', 'Failed', after.error ?? 'the task failed'));
      break;
    case 'Stopped':
      out.push(event(ref, 'Normal', 'Stopped', 'the task was stopped'));
      break;
    case 'Pending':
      if (before?.phase !== undefined) out.push(event(ref, 'Normal', 'Pending', `back to pending (attempt ${after.attempts ?? 0})`));
      break;
    case undefined:
      break;
    default: {
      const never: never = after.phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
  return out;
}

function event(target: CrRef, eventType: 'Normal' | 'Warning', reason: string, message: string): Action {
  return { type: 'emitEvent', target, eventType, reason, message };
}
