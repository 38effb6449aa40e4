import type { Kysely, Transaction } from 'kysely';
import { LEASE_NAMES, eventTypesOf, parseStoredEvent, type StoredEnvelope, type TaskEvent } from '@propeller/events';
import type { Projection } from '@propeller/projections';
import {
  appendTaskEvent,
  deleteAllTasks,
  deleteTask,
  deleteTasks,
  loadTaskState,
  loadTaskStates,
  upsertTask,
  writeTasksAndEvents,
  type TaskEventRowInput,
  type TaskRowInput,
  type TasksTables,
} from '@propeller/read-models';
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

/** One task's slot while a batch is folded in memory. */
interface Folding {
  /** The folded state while the task has a row (in the table or written earlier in this batch); undefined = no row. */
  state: TaskState | undefined;
  /** The last event that left the task live: its row is built once, at the end of the batch. */
  last: { occurredAt: string; seq: number } | undefined;
  /** The newest explanation this batch brought since the row was (re)created; undefined keeps the stored one. */
  explanation: string | undefined;
  /** Timeline rows of this batch, since the row was last deleted. */
  timeline: TaskEventRowInput[];
  /** The row and timeline were deleted by an event of this batch: delete them before writing. */
  delete: boolean;
}

/**
 * Applies a batch of Task events with a handful of statements, and leaves exactly the rows `applyTaskEvent` one
 * by one would: each task's events are folded in memory (with the decider's `evolve`, from the stored state),
 * then deletions (rare), and one statement that upserts the `tasks` rows and inserts the `task_events` rows. The stored state
 * is read (one query) only for tasks whose first event in the batch is not `TaskCreated` (`evolve` of a
 * `TaskCreated` does not look at the state before it).
 */
export async function applyTaskEvents(trx: Kysely<TasksTables>, batch: readonly StoredEnvelope[]): Promise<void> {
  const events = batch.map(parseStoredEvent).filter((e) => e.aggregate === 'task');
  const first = new Map<string, string>();
  for (const e of events) if (!first.has(e.aggregateId)) first.set(e.aggregateId, e.type);
  const stored = await loadTaskStates(trx, [...first].filter(([, type]) => type !== 'TaskCreated').map(([id]) => id));
  const slots = new Map<string, Folding>();
  for (const event of events) {
    const id = event.aggregateId;
    let slot = slots.get(id);
    if (slot === undefined) {
      slot = { state: stored.get(id)?.state as TaskState | undefined, last: undefined, explanation: undefined, timeline: [], delete: false };
      slots.set(id, slot);
    }
    const e = { type: event.type, data: event.data } as TaskEvent;
    const after = taskDecider.evolve(slot.state ?? taskDecider.initialState(), e);
    if (!isLive(after)) {
      // As `applyTaskEvent`: a task with a row loses it and its timeline; one without stays without.
      if (slot.state !== undefined) {
        slot.delete = true;
        slot.state = undefined;
        slot.last = undefined;
        slot.explanation = undefined;
        slot.timeline = [];
      }
      continue;
    }
    if (e.type === 'TaskScheduled') slot.explanation = e.data.explanation;
    slot.state = after;
    slot.last = { occurredAt: event.occurredAt, seq: event.seq };
    slot.timeline.push({ seq: event.seq, task_id: id, type: e.type, at: event.occurredAt, summary: timelineSummary(e) });
  }
  await deleteTasks(trx, [...slots].filter(([, s]) => s.delete).map(([id]) => id));
  const rows: TaskRowInput[] = [];
  const timeline: TaskEventRowInput[] = [];
  for (const [id, s] of slots) {
    // A null explanation keeps the stored one (`upsertTasks`), as `applyTaskEvent` leaves it untouched.
    if (s.last !== undefined && s.state !== undefined && isLive(s.state)) {
      rows.push(taskRow(id, s.state, { ...s.last, explanation: s.explanation ?? null }));
    }
    timeline.push(...s.timeline);
  }
  await writeTasksAndEvents(trx, rows, timeline);
}

/** The `tasks` projection, for a `ProjectionRunner`: Task events only, read from `<p>.events.task.*`. */
export const tasksProjection: Projection<TasksTables> = {
  name: TASKS_PROJECTION,
  aggregate: 'task',
  types: eventTypesOf('task'),
  apply: (trx: Transaction<TasksTables>, event: StoredEnvelope) => applyTaskEvent(trx, event),
  applyBatch: (trx: Transaction<TasksTables>, events: readonly StoredEnvelope[]) => applyTaskEvents(trx, events),
  reset: (trx: Transaction<TasksTables>) => deleteAllTasks(trx),
};
