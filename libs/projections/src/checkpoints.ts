/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import { sql, type ColumnType, type Kysely } from 'kysely';
import { ConflictError } from '@propeller/events';

/** Postgres channel every checkpoint move is announced on (payload: `CheckpointNotice` as JSON). */
export const CHECKPOINT_CHANNEL = 'propeller_projection_checkpoints';

/** `running` applies events; `stalled` stopped on an event it could not apply (see `error`). */
export type CheckpointStatus = 'running' | 'stalled';

/** The `projection_checkpoints` table (migration 20261127T1400_create_checkpoints). */
export interface CheckpointTable {
  name: string;
  seq: ColumnType<number, number | undefined, number>;
  updated_at: ColumnType<Date, Date | undefined, Date | ReturnType<typeof sql>>;
  status: ColumnType<CheckpointStatus, CheckpointStatus | undefined, CheckpointStatus>;
  error: string | null;
}

/** The tables this lib owns, for typing a `Kysely` that reads checkpoints. */
export interface ProjectionsTables {
  projection_checkpoints: CheckpointTable;
}

/** One projection's position: the last stream sequence applied (0 = nothing yet). */
export interface Checkpoint {
  name: string;
  seq: number;
  status: CheckpointStatus;
  error: string | null;
  updatedAt: Date;
}

/** What `pg_notify` carries on `CHECKPOINT_CHANNEL`: schema, projection name, sequence. */
export interface CheckpointNotice {
  schema: string;
  name: string;
  seq: number;
}

/** Thrown when the checkpoint is not where this writer left it: another instance wrote it (lease lost), nothing was committed. */
export class CheckpointMovedError extends ConflictError {
  constructor(name: string, expected: number) {
    super(`checkpoint of projection ${name} moved away from ${expected}: another instance is writing it`, {
      details: { projection: name, expected },
    });
  }
}

// Callers pass their own Kysely<DB> or transaction; these functions touch only projection_checkpoints.
type AnyDb = Kysely<any>;
const tables = (db: AnyDb): Kysely<ProjectionsTables> => db as Kysely<ProjectionsTables>;

function toCheckpoint(row: { name: string; seq: number; status: CheckpointStatus; error: string | null; updated_at: Date }): Checkpoint {
  return { name: row.name, seq: Number(row.seq), status: row.status, error: row.error, updatedAt: row.updated_at };
}

/** The checkpoint of `name`, or `undefined` if it never ran. */
export async function getCheckpoint(db: AnyDb, name: string): Promise<Checkpoint | undefined> {
  const row = await tables(db).selectFrom('projection_checkpoints').selectAll().where('name', '=', name).executeTakeFirst();
  return row === undefined ? undefined : toCheckpoint(row);
}

/** The checkpoint of `name`, created at 0 if missing. */
export async function ensureCheckpoint(db: AnyDb, name: string): Promise<Checkpoint> {
  await tables(db).insertInto('projection_checkpoints').values({ name }).onConflict((oc) => oc.column('name').doNothing()).execute();
  const found = await getCheckpoint(db, name);
  if (found === undefined) throw new Error(`checkpoint ${name} vanished right after it was created`);
  return found;
}

/**
 * Moves the checkpoint from `from` to `to` inside the caller's transaction, and announces it on commit.
 * Compare-and-set: throws `CheckpointMovedError` if the row is not at `from`, which fences off a second writer.
 * One statement (one round trip): the update, and the `pg_notify` for the row it moved.
 */
export async function advanceCheckpoint(trx: AnyDb, name: string, from: number, to: number): Promise<void> {
  const res = await sql<{ seq: string }>`with moved as (
      update projection_checkpoints set seq = ${to}, updated_at = now(), status = 'running', error = null
      where name = ${name} and seq = ${from}
      returning seq)
    select seq, pg_notify(${CHECKPOINT_CHANNEL}, json_build_object('schema', current_schema(), 'name', ${name}::text, 'seq', seq)::text) from moved`.execute(
    trx,
  );
  if (res.rows.length !== 1) throw new CheckpointMovedError(name, from);
}

/** Sets the checkpoint back to 0 (running) inside the caller's transaction — the rebuild's half of reset. */
export async function resetCheckpoint(trx: AnyDb, name: string): Promise<void> {
  await tables(trx)
    .insertInto('projection_checkpoints')
    .values({ name, seq: 0 })
    .onConflict((oc) => oc.column('name').doUpdateSet({ seq: 0, status: 'running', error: null, updated_at: sql`now()` }))
    .execute();
  await notifyCheckpoint(trx, name, 0);
}

/** Records that `name` stopped on an event it cannot apply; the sequence stays where it was. */
export async function markStalled(db: AnyDb, name: string, error: string): Promise<void> {
  await tables(db)
    .updateTable('projection_checkpoints')
    .set({ status: 'stalled', error, updated_at: sql`now()` })
    .where('name', '=', name)
    .execute();
}

async function notifyCheckpoint(trx: AnyDb, name: string, seq: number): Promise<void> {
  // NOTIFY is transactional: listeners hear it only once the rows and the checkpoint are committed.
  await sql`select pg_notify(${CHECKPOINT_CHANNEL}, json_build_object('schema', current_schema(), 'name', ${name}::text, 'seq', ${seq}::bigint)::text)`.execute(
    trx,
  );
}
