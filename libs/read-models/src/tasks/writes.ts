/* eslint-disable @typescript-eslint/no-explicit-any -- the projection passes its own transaction; these functions touch only `tasks` and `task_events` */
import { sql, type Insertable, type Kysely } from 'kysely';
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

// ---- Batched writes: one statement per table for a whole projection batch (few round trips, no per-row query building).

/** Every `tasks` column with the type `jsonb_to_recordset` reads it as (the table's own types). */
const TASK_COLUMNS = [
  ['id', 'text'],
  ['name', 'text'],
  ['function_name', 'text'],
  ['module', 'jsonb'],
  ['image_url', 'text'],
  ['inputs', 'jsonb'],
  ['cli_args', 'jsonb'],
  ['env', 'jsonb'],
  ['daemon', 'boolean'],
  ['proplet_selector', 'jsonb'],
  ['preferred_proplet_type', 'text'],
  ['resource_requirements', 'jsonb'],
  ['max_attempts', 'integer'],
  ['timeout_ms', 'bigint'],
  ['labels', 'jsonb'],
  ['owner', 'jsonb'],
  ['status', 'text'],
  ['attempt', 'integer'],
  ['proplet_id', 'text'],
  ['wire_id', 'text'],
  ['results', 'jsonb'],
  ['error', 'text'],
  ['failure_reason', 'text'],
  ['unschedulable_reasons', 'jsonb'],
  ['explanation', 'text'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['started_at', 'timestamptz'],
  ['scheduled_at', 'timestamptz'],
  ['running_at', 'timestamptz'],
  ['finished_at', 'timestamptz'],
  ['state', 'jsonb'],
  ['last_seq', 'bigint'],
] as const satisfies ReadonlyArray<readonly [keyof TasksTable, string]>;

// Every column must be listed exactly once: a column added to `TasksTable` and not here fails to compile.
type Listed = (typeof TASK_COLUMNS)[number][0];
const _allListed: Exclude<keyof TasksTable, Listed> extends never ? true : never = true;

const COLUMN_LIST = sql.raw(TASK_COLUMNS.map(([c]) => c).join(', '));
const RECORD_TYPE = sql.raw(TASK_COLUMNS.map(([c, t]) => `${c} ${t}`).join(', '));
// An upsert never clears an explanation: a null one keeps what the row had (an explanation is only ever replaced by a newer one).
const UPDATE_SET = sql.raw(
  TASK_COLUMNS.filter(([c]) => c !== 'id')
    .map(([c]) => (c === 'explanation' ? 'explanation = coalesce(excluded.explanation, tasks.explanation)' : `${c} = excluded.${c}`))
    .join(', '),
);

/**
 * One row as a JSON object for `jsonb_to_recordset`. The JSON columns arrive already serialised (`TaskRowInput`
 * holds them as JSON text), so they are spliced in as they are instead of being escaped into strings.
 */
function rowJson(row: TaskRowInput): string {
  const parts: string[] = [];
  for (const [column, type] of TASK_COLUMNS) {
    const v = (row as Record<string, unknown>)[column];
    if (v === undefined) continue;
    const value = v === null ? 'null' : type === 'jsonb' && typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(`"${column}":${value}`);
  }
  return `{${parts.join(',')}}`;
}

/** The folded state and last sequence of each of `ids` that has a row (one query). */
export async function loadTaskStates(db: Kysely<any>, ids: readonly string[]): Promise<Map<string, { state: unknown; lastSeq: number }>> {
  const out = new Map<string, { state: unknown; lastSeq: number }>();
  if (ids.length === 0) return out;
  const res = await sql<{ id: string; state: unknown; last_seq: string }>`select id, state, last_seq from tasks where id = any(${ids}::text[])`.execute(db);
  for (const r of res.rows) out.set(r.id, { state: r.state, lastSeq: Number(r.last_seq) });
  return out;
}

/**
 * Inserts or replaces many task rows in one statement (ids must be distinct). Same result as `upsertTask` per
 * row, except that a null `explanation` keeps the stored one rather than clearing it.
 */
export async function upsertTasks(db: Kysely<any>, rows: readonly TaskRowInput[]): Promise<void> {
  if (rows.length === 0) return;
  await upsertTasksSql(`[${rows.map(rowJson).join(',')}]`).execute(db);
}

const upsertTasksSql = (json: string) => sql`insert into tasks (${COLUMN_LIST})
    select ${COLUMN_LIST} from jsonb_to_recordset(${json}::jsonb) as r(${RECORD_TYPE})
    on conflict (id) do update set ${UPDATE_SET}`;

const appendTaskEventsSql = (rows: readonly TaskEventRowInput[]) => sql`insert into task_events (seq, task_id, type, at, summary)
    select seq, task_id, type, at, summary
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(seq bigint, task_id text, type text, at timestamptz, summary text)
    on conflict (seq) do nothing`;

/** Adds many timeline rows in one statement; an event already there (same sequence) is kept once. */
export async function appendTaskEvents(db: Kysely<any>, rows: readonly TaskEventRowInput[]): Promise<void> {
  if (rows.length === 0) return;
  await appendTaskEventsSql(rows).execute(db);
}

/**
 * `upsertTasks(rows)` and `appendTaskEvents(events)` in one statement (one round trip; the upsert is a
 * data-modifying `WITH`, which Postgres runs to completion whether or not the outer insert reads it).
 */
export async function writeTasksAndEvents(db: Kysely<any>, rows: readonly TaskRowInput[], events: readonly TaskEventRowInput[]): Promise<void> {
  if (rows.length === 0) return appendTaskEvents(db, events);
  if (events.length === 0) return upsertTasks(db, rows);
  await sql`with upserted as (${upsertTasksSql(`[${rows.map(rowJson).join(',')}]`)} returning 1) ${appendTaskEventsSql(events)}`.execute(db);
}

/** Removes the rows and timelines of `ids` (two statements); missing rows are fine. */
export async function deleteTasks(db: Kysely<any>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`delete from task_events where task_id = any(${ids}::text[])`.execute(db);
  await sql`delete from tasks where id = any(${ids}::text[])`.execute(db);
}
