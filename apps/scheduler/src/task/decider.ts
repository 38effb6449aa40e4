import { isDeepStrictEqual } from 'node:util';
import {
  ConflictError,
  InvalidError,
  NotFoundError,
  type CreateTask,
  type RecordTaskResult,
  type TaskCommand,
  type TaskEvent,
  type TaskPatch,
} from '@propeller/events';
import { attemptOfWireId, wireIdFor } from '@propeller/mqtt-protocol';
import { isFinished, isLive, isPlaced, type LiveTask, type TaskState } from './state';
import type { TaskSpec } from './types';

/**
 * Reason prefix of the `TaskEvacuated` a timeout with attempts left writes. The decider is the only
 * writer of these events, and `evolve` counts such an evacuation against `maxAttempts` while an
 * operator or health evacuation (any other reason) only raises the attempt. `task.evacuate` never
 * writes a reason with this prefix.
 */
export const TIMEOUT_REASON_PREFIX = 'timeout: ';

/** The error text of a task that timed out on its last allowed attempt. */
export const timeoutFailure = (attempts: number): string => `timeout after ${attempts} attempt${attempts === 1 ? '' : 's'}`;

/**
 * The Task aggregate as a decider (STYLE.md rule 5). Pure: the clock is `meta.issuedAt`, fencing
 * tokens are checked by the handler before `decide`, the module is stored by the handler. A command
 * whose outcome is already in the state decides no events, so every command is idempotent.
 *
 * Happy path: `TaskCreated` (with `startedAt` when created with `start: true`; else a later `TaskStarted`)
 * → `TaskScheduled` → `TaskRunning` → `TaskCompleted`: four events. A result that arrives while the task is
 * still `scheduled` completes it directly (the proplet ran it), so a short task may have three. `TaskDispatched` is not on it: `task.recordDispatched` is what the gateway sends for
 * upstream proplets that never report `task_started`, and it decides `TaskRunning` with evidence
 * `dispatched` (README "Running: who says so").
 */
export const taskDecider = {
  initialState: (): TaskState => ({ status: 'absent' }),
  decide,
  evolve,
};

function decide(command: TaskCommand, state: TaskState): TaskEvent[] {
  const at = command.meta.issuedAt;
  const id = command.aggregateId;
  switch (command.name) {
    case 'task.create':
      return decideCreate(command, state);
    case 'task.update': {
      const t = requireLive(state, id);
      if (t.status !== 'created') throw new ConflictError(`task ${id} is ${t.status}; only a task that has not been started can be updated`, details(id, t));
      const { taskId: _id, ...patch } = command.data;
      const changed = diffSpec(t.spec, patch);
      return changed === null ? [] : [{ type: 'TaskUpdated', data: { ...changed, updatedAt: at } }];
    }
    case 'task.start': {
      const t = requireLive(state, id);
      if (t.status === 'created') return [{ type: 'TaskStarted', data: { startedAt: at } }];
      if (t.status === 'pending' || t.status === 'scheduled' || t.status === 'running') return [];
      throw new ConflictError(`task ${id} is ${t.status}; a finished task cannot be started again`, details(id, t));
    }
    case 'task.stop': {
      const t = requireLive(state, id);
      if (t.status === 'stopped') return [];
      if (t.status === 'completed' || t.status === 'failed') throw new ConflictError(`task ${id} is ${t.status}; only an unfinished task can be stopped`, details(id, t));
      const reason = command.data.reason;
      return [
        {
          type: 'TaskStopped',
          data: {
            ...(reason === undefined ? {} : { reason }),
            ...(isPlaced(t) ? { propletId: t.propletId, attempt: t.attempt, wireId: t.wireId } : {}),
            stoppedAt: at,
          },
        },
      ];
    }
    case 'task.delete': {
      if (state.status === 'deleted' || state.status === 'archived') return [];
      const t = requireLive(state, id);
      return [{ type: 'TaskDeleted', data: { status: t.status, ...(isPlaced(t) ? { propletId: t.propletId, wireId: t.wireId } : {}), deletedAt: at } }];
    }
    case 'task.schedule': {
      const t = requireLive(state, id);
      const { propletId, attempt, explanation } = command.data;
      if (isPlaced(t) && t.attempt === attempt) {
        if (t.propletId === propletId) return [];
        throw new ConflictError(`task ${id} attempt ${attempt} is already scheduled on proplet ${t.propletId}`, details(id, t));
      }
      if (t.status !== 'pending') throw new ConflictError(`task ${id} is ${t.status}; only a pending task can be scheduled`, details(id, t));
      if (t.attempt !== attempt) throw new ConflictError(`task ${id} waits for attempt ${t.attempt}, not ${attempt}`, details(id, t));
      return [{ type: 'TaskScheduled', data: { propletId, attempt, wireId: wireIdFor(id, attempt), explanation, scheduledAt: at } }];
    }
    case 'task.recordUnschedulable': {
      const t = requireLive(state, id);
      const { attempt, reasons } = command.data;
      if (t.status !== 'pending' || t.attempt !== attempt) {
        throw new ConflictError(`task ${id} is ${t.status} at attempt ${t.attempt}; only a pending attempt ${attempt} can be unschedulable`, details(id, t));
      }
      if (t.unschedulableReasons !== undefined && sameSet(t.unschedulableReasons, reasons)) return [];
      return [{ type: 'TaskUnschedulable', data: { reasons, attempt, unschedulableAt: at } }];
    }
    case 'task.recordDispatched': {
      const t = requireLive(state, id);
      const { wireId, propletId } = command.data;
      attemptOrThrow(id, wireId, t);
      if (t.status === 'scheduled' && t.wireId === wireId) {
        return [{ type: 'TaskRunning', data: { propletId, attempt: t.attempt, wireId, evidence: 'dispatched', runningAt: at } }];
      }
      // Already running, finished, or an abandoned attempt: nothing new happened to the task.
      return [];
    }
    case 'task.recordStarted': {
      const t = requireLive(state, id);
      const { wireId, propletId } = command.data;
      attemptOrThrow(id, wireId, t);
      if (t.status === 'scheduled' && t.wireId === wireId) {
        return [{ type: 'TaskRunning', data: { propletId, attempt: t.attempt, wireId, evidence: 'taskStarted', runningAt: at } }];
      }
      return [];
    }
    case 'task.recordResult':
      return decideResult(command, state);
    case 'task.recordTimeout': {
      const t = requireLive(state, id);
      // A timer of an attempt that has already ended (or moved) is stale: nothing to do.
      if (!isPlaced(t) || t.attempt !== command.data.attempt) return [];
      const used = t.attemptsUsed + 1;
      if (used >= t.spec.maxAttempts) {
        return [{ type: 'TaskFailed', data: { error: timeoutFailure(used), reason: 'timeout', attempt: t.attempt, wireId: t.wireId, propletId: t.propletId, failedAt: at } }];
      }
      return [
        {
          type: 'TaskEvacuated',
          data: {
            fromPropletId: t.propletId,
            attempt: t.attempt,
            wireId: t.wireId,
            reason: `${TIMEOUT_REASON_PREFIX}no result within ${t.spec.timeoutMs ?? 0} ms (attempt ${used} of ${t.spec.maxAttempts})`,
            evacuatedAt: at,
          },
        },
      ];
    }
    case 'task.evacuate': {
      const t = requireLive(state, id);
      const { fromPropletId } = command.data;
      if (!isPlaced(t) || t.propletId !== fromPropletId) return [];
      const reason = command.data.reason.startsWith(TIMEOUT_REASON_PREFIX) ? `evacuated: ${command.data.reason}` : command.data.reason;
      const events: TaskEvent[] = [{ type: 'TaskEvacuated', data: { fromPropletId, attempt: t.attempt, wireId: t.wireId, reason, evacuatedAt: at } }];
      if (t.spec.propletSelector.propletId === fromPropletId) {
        // A pinned task cannot move: it waits in `pending` for its proplet, and says so.
        events.push({
          type: 'TaskUnschedulable',
          data: { reasons: [`pinned to proplet ${fromPropletId}, which was left (${reason}); waiting for it to come back`], attempt: t.attempt + 1, unschedulableAt: at },
        });
      }
      return events;
    }
    case 'task.archive': {
      if (state.status === 'archived' || state.status === 'deleted') return [];
      const t = requireLive(state, id);
      if (!isFinished(t)) throw new ConflictError(`task ${id} is ${t.status}; only a finished task can be archived`, details(id, t));
      return [{ type: 'TaskArchived', data: { status: t.status, archivedAt: at } }];
    }
    default: {
      const never: never = command;
      throw InvalidError.field('command', (never as { name: string }).name, 'is not a task command');
    }
  }
}

function decideCreate(command: CreateTask, state: TaskState): TaskEvent[] {
  const id = command.aggregateId;
  const { taskId: _id, start, ...spec } = command.data;
  if (spec.module === null && spec.imageUrl === null) {
    throw new InvalidError(`task ${id}: set exactly one of file or image_url`, [{ field: 'data.file', value: undefined, rule: 'set exactly one of file or image_url' }]);
  }
  const at = command.meta.issuedAt;
  const started: TaskEvent[] = start === true ? [{ type: 'TaskStarted', data: { startedAt: at } }] : [];
  // Created and started in one command: one event (`startedAt` on `TaskCreated`).
  if (state.status === 'absent') return [{ type: 'TaskCreated', data: start === true ? { ...spec, createdAt: at, startedAt: at } : { ...spec, createdAt: at } }];
  if (isLive(state) && isDeepStrictEqual(normalise(state.spec), normalise(spec))) {
    // The same create again (a retry): start it if asked and not started yet; a finished task stays finished.
    return state.status === 'created' ? started : [];
  }
  throw new ConflictError(`task ${id} already exists (${state.status}) with another spec`, { details: { taskId: id, status: state.status } });
}

function decideResult(command: RecordTaskResult, state: TaskState): TaskEvent[] {
  const id = command.aggregateId;
  const t = requireLive(state, id);
  const { wireId, propletId, results, error } = command.data;
  const at = command.meta.issuedAt;
  const attempt = attemptOrThrow(id, wireId, t);
  const failed = error !== undefined && error !== '';
  const discard = (reason: 'staleAttempt' | 'duplicate' | 'afterTerminal' | 'notRunning'): TaskEvent[] => {
    // Each wire id is discarded once: a redelivered result records nothing more.
    if (t.discardedWireIds.includes(wireId)) return [];
    return [
      {
        type: 'TaskResultDiscarded',
        data: { wireId, attempt, reason, ...(propletId === undefined ? {} : { propletId }), ...(failed ? { error } : {}), discardedAt: at },
      },
    ];
  };
  if (isFinished(t)) {
    // The result that finished the task, delivered again: nothing to record.
    if (t.wireId === wireId && (t.status === 'completed' ? !failed : t.status === 'failed' && failed)) return [];
    return discard('afterTerminal');
  }
  if (attempt !== t.attempt) return discard('staleAttempt');
  if (!isPlaced(t)) return discard('notRunning');
  const where = propletId ?? t.propletId;
  if (failed) {
    return [{ type: 'TaskFailed', data: { error, reason: 'error', attempt, wireId, propletId: where, failedAt: at } }];
  }
  if (t.spec.daemon) {
    // A daemon's success result says it runs; it keeps running (upstream proplets report daemons at once).
    return t.status === 'running' ? [] : [{ type: 'TaskRunning', data: { propletId: where, attempt, wireId, evidence: 'taskStarted', runningAt: at } }];
  }
  return [{ type: 'TaskCompleted', data: { results, attempt, wireId, propletId: where, completedAt: at } }];
}

function requireLive(state: TaskState, id: string): LiveTask {
  if (isLive(state)) return state;
  if (state.status === 'deleted') throw new NotFoundError(`task ${id} was deleted`, { details: { taskId: id } });
  if (state.status === 'archived') throw new NotFoundError(`task ${id} was archived`, { details: { taskId: id } });
  throw new NotFoundError(`task ${id} does not exist`, { details: { taskId: id } });
}

/** The attempt a wire id names (up to the current one); `Invalid` when it names none of this task's. */
function attemptOrThrow(id: string, wireId: string, t: LiveTask): number {
  const n = attemptOfWireId(id, wireId, t.attempt);
  if (n === null) throw InvalidError.field('data.wireId', wireId, `does not name an attempt (1..${t.attempt}) of task ${id}`);
  return n;
}

const details = (id: string, t: LiveTask) => ({ details: { taskId: id, status: t.status, attempt: t.attempt } });

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

// JSON round trip: absent optional fields and `undefined` compare equal, as they do once stored.
const normalise = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** The patch fields that differ from the spec, or `null` when none does. */
function diffSpec(spec: TaskSpec, patch: TaskPatch): TaskPatch | null {
  const changed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (!isDeepStrictEqual(normalise(v), normalise((spec as Record<string, unknown>)[k]))) changed[k] = v;
  }
  return Object.keys(changed).length === 0 ? null : (changed as TaskPatch);
}

/**
 * Folds one event. Called for every Task event by the command cache, the placement loop and the
 * tasks projection, so each status's object is built explicitly, with one shape per status and its keys
 * in one order (the order the stored `state` JSON has always had: `TaskBase` fields, `status`, then the
 * status's own; `status` first for `created`), and `spec` shared by reference: no spread of the state, no
 * intermediate `base()` copy. (The rest that takes `createdAt` off `TaskCreated` data is as cheap as a copy loop.)
 */
function evolve(state: TaskState, event: TaskEvent): TaskState {
  if (event.type === 'TaskCreated') {
    const { createdAt, startedAt, ...spec } = event.data;
    const created: TaskState = {
      status: 'created',
      spec,
      createdAt,
      attempt: 1,
      attemptsUsed: 0,
      startedAt: undefined,
      unschedulableReasons: undefined,
      discardedWireIds: [],
    };
    // Created with `start: true`: the same state as this `TaskCreated` followed by a `TaskStarted`.
    return startedAt === undefined ? created : evolve(created, { type: 'TaskStarted', data: { startedAt } });
  }
  if (!isLive(state)) return state;
  const t = state;
  switch (event.type) {
    case 'TaskUpdated': {
      const { updatedAt: _at, ...patch } = event.data;
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      return { ...state, spec: { ...state.spec, ...defined } as TaskSpec };
    }
    case 'TaskStarted': {
      const at = event.data.startedAt;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: t.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: at,
        unschedulableReasons: t.unschedulableReasons,
        discardedWireIds: t.discardedWireIds,
        status: 'pending',
        pendingSince: at,
      };
    }
    case 'TaskScheduled': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: d.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: t.startedAt,
        unschedulableReasons: undefined,
        discardedWireIds: t.discardedWireIds,
        status: 'scheduled',
        propletId: d.propletId,
        wireId: d.wireId,
        scheduledAt: d.scheduledAt,
      };
    }
    case 'TaskDispatched':
      // Not written by this decider (see the doc above); folded as a no-op so an old log still reads.
      return state;
    case 'TaskRunning': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: d.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: t.startedAt,
        unschedulableReasons: t.unschedulableReasons,
        discardedWireIds: t.discardedWireIds,
        status: 'running',
        propletId: d.propletId,
        wireId: d.wireId,
        scheduledAt: isPlaced(t) ? t.scheduledAt : d.runningAt,
        runningAt: d.runningAt,
        evidence: d.evidence,
      };
    }
    case 'TaskCompleted': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: t.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: t.startedAt,
        unschedulableReasons: t.unschedulableReasons,
        discardedWireIds: t.discardedWireIds,
        status: 'completed',
        propletId: d.propletId,
        wireId: d.wireId,
        results: d.results,
        finishedAt: d.completedAt,
      };
    }
    case 'TaskFailed': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: t.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: t.startedAt,
        unschedulableReasons: t.unschedulableReasons,
        discardedWireIds: t.discardedWireIds,
        status: 'failed',
        propletId: d.propletId,
        wireId: d.wireId,
        error: d.error,
        reason: d.reason,
        finishedAt: d.failedAt,
      };
    }
    case 'TaskStopped': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: t.attempt,
        attemptsUsed: t.attemptsUsed,
        startedAt: t.startedAt,
        unschedulableReasons: t.unschedulableReasons,
        discardedWireIds: t.discardedWireIds,
        status: 'stopped',
        propletId: d.propletId,
        wireId: d.wireId,
        reason: d.reason,
        finishedAt: d.stoppedAt,
      };
    }
    case 'TaskEvacuated': {
      const d = event.data;
      return {
        spec: t.spec,
        createdAt: t.createdAt,
        attempt: d.attempt + 1,
        attemptsUsed: t.attemptsUsed + (d.reason.startsWith(TIMEOUT_REASON_PREFIX) ? 1 : 0),
        startedAt: t.startedAt,
        unschedulableReasons: undefined,
        discardedWireIds: t.discardedWireIds,
        status: 'pending',
        pendingSince: d.evacuatedAt,
      };
    }
    case 'TaskUnschedulable':
      return { ...state, unschedulableReasons: event.data.reasons } as TaskState;
    case 'TaskResultDiscarded':
      return { ...state, discardedWireIds: [...state.discardedWireIds, event.data.wireId] } as TaskState;
    case 'TaskArchived':
      return { status: 'archived', archivedAt: event.data.archivedAt };
    case 'TaskDeleted':
      return { status: 'deleted', deletedAt: event.data.deletedAt };
    default: {
      const never: never = event;
      return never;
    }
  }
}
