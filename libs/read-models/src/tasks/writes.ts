/* eslint-disable @typescript-eslint/no-explicit-any -- the projection passes its own transaction; these functions touch only `tasks` and `task_events` */
import type { Insertable, Kysely } from 'kysely';
import type { TaskEventsTable, TasksTable, TasksTables } from './table';

/**
 * Write side of the `tasks` read model. Only the scheduler's `tasks` projection calls these, inside
 * the runner's transaction (rows, timeline and checkpoint commit together).
 */

const table = (db: Kysely<any>): Kysely<TasksTables> => db as Kysely<TasksTables>;

/** A full `tasks` row as the projection writes it. */
export type TaskRowInput = Insertable<TasksTable>;
/** One timeline row. */
export type TaskEventRowInput = Insertable<TaskEventsTable>;

/** The folded aggregate state stored with a row, or `undefined` when the task has no row. */
export async function loadTaskState(db: Kysely<any>, id: string): Promise<{ state: unknown; lastSeq: number } | undefined> {
  const row = await table(db).selectFrom('tasks').select(['state', 'last_seq']).where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : { state: row.state, lastSeq: Number(row.last_seq) };
}

/** Inserts or replaces a task row. */
export async function upsertTask(db: Kysely<any>, row: TaskRowInput): Promise<void> {
  const { id: _id, ...changes } = row;
  await table(db)
    .insertInto('tasks')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(changes))
    .execute();
}

/** Adds one event to a task's timeline; an event applied twice (same sequence) is kept once. */
export async function appendTaskEvent(db: Kysely<any>, row: TaskEventRowInput): Promise<void> {
  await table(db)
    .insertInto('task_events')
    .values(row)
    .onConflict((oc) => oc.column('seq').doNothing())
    .execute();
}

/** Removes a task's row and its timeline (deleted or archived); a missing row is fine. */
export async function deleteTask(db: Kysely<any>, id: string): Promise<void> {
  await table(db).deleteFrom('task_events').where('task_id', '=', id).execute();
  await table(db).deleteFrom('tasks').where('id', '=', id).execute();
}

/** Empties the read model (a projection rebuild). */
export async function deleteAllTasks(db: Kysely<any>): Promise<void> {
  await table(db).deleteFrom('task_events').execute();
  await table(db).deleteFrom('tasks').execute();
}
