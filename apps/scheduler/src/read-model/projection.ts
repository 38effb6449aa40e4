import type { Kysely, Transaction } from 'kysely';
import { LEASE_NAMES, eventTypesOf, parseStoredEvent, type StoredEnvelope, type TaskEvent } from '@propeller/events';
import type { Projection } from '@propeller/projections';
import { appendTaskEvent, deleteAllTasks, deleteTask, loadTaskState, upsertTask, type TasksTables } from '@propeller/read-models';
import { taskDecider } from '../task/decider';
import { isLive, type TaskState } from '../task/state';
import { taskRow, timelineSummary } from './row';

/** Name of the projection (its checkpoint row, metric label and lease `projection.tasks`). */
export const TASKS_PROJECTION = 'tasks';
/** Lease key of the replica that runs the projection. */
export const TASKS_PROJECTION_LEASE = LEASE_NAMES.projection(TASKS_PROJECTION);

/**
 * Applies one Task event to `tasks` and its timeline `task_events`. The row keeps the folded
 * aggregate state and the event is folded with the decider's own `evolve`, so the read model and
 * the aggregate never disagree. A deleted or archived task leaves both tables.
 */
export async function applyTaskEvent(trx: Kysely<TasksTables>, stored: StoredEnvelope): Promise<void> {
  const event = parseStoredEvent(stored);
  if (event.aggregate !== 'task') return;
  const id = event.aggregateId;
  const e = { type: event.type, data: event.data } as TaskEvent;
  const current = await loadTaskState(trx, id);
  const before = (current?.state as TaskState | undefined) ?? taskDecider.initialState();
  const after = taskDecider.evolve(before, e);
  if (!isLive(after)) {
    if (current !== undefined) await deleteTask(trx, id);
    return;
  }
  // The explanation is not part of the folded state; keep the last one unless this event brings one.
  const explanation = e.type === 'TaskScheduled' ? e.data.explanation : undefined;
  const row = taskRow(id, after, { occurredAt: event.occurredAt, seq: event.seq, ...(explanation === undefined ? {} : { explanation }) });
  if (explanation === undefined && current !== undefined) delete (row as { explanation?: unknown }).explanation;
  await upsertTask(trx, row);
  await appendTaskEvent(trx, { seq: event.seq, task_id: id, type: e.type, at: event.occurredAt, summary: timelineSummary(e) });
}

/** The `tasks` projection, for a `ProjectionRunner`: Task events only, read from `<p>.events.task.*`. */
export const tasksProjection: Projection<TasksTables> = {
  name: TASKS_PROJECTION,
  aggregate: 'task',
  types: eventTypesOf('task'),
  apply: (trx: Transaction<TasksTables>, event: StoredEnvelope) => applyTaskEvent(trx, event),
  reset: (trx: Transaction<TasksTables>) => deleteAllTasks(trx),
};
