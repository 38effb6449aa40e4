/* eslint-disable @typescript-eslint/no-explicit-any -- the projection passes its own transaction; these functions touch only `proplets` */
import type { Insertable, Kysely } from 'kysely';
import type { PropletsTable, ReadModelTables } from './table';

/**
 * Write side of the `proplets` read model. Only the registry's `proplets` projection calls these,
 * inside the runner's transaction (rows and checkpoint commit together).
 */

const table = (db: Kysely<any>): Kysely<ReadModelTables> => db as Kysely<ReadModelTables>;

/** A full row as the projection writes it (task counts are left to their owner). */
export type PropletRowInput = Omit<Insertable<PropletsTable>, 'task_count' | 'running_task_count'>;

/** The folded aggregate state stored with a row, or `undefined` when the proplet has no row. */
export async function loadPropletState(db: Kysely<any>, id: string): Promise<{ state: unknown; lastSeq: number } | undefined> {
  const row = await table(db).selectFrom('proplets').select(['state', 'last_seq']).where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : { state: row.state, lastSeq: Number(row.last_seq) };
}

/** Inserts or replaces a proplet row; `task_count` and `running_task_count` keep their values. */
export async function upsertProplet(db: Kysely<any>, row: PropletRowInput): Promise<void> {
  const { id: _id, ...changes } = row;
  await table(db)
    .insertInto('proplets')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(changes))
    .execute();
}

/** Removes a proplet's row (deregistration); a missing row is fine. */
export async function deleteProplet(db: Kysely<any>, id: string): Promise<void> {
  await table(db).deleteFrom('proplets').where('id', '=', id).execute();
}

/** Empties the read model (a projection rebuild). */
export async function deleteAllProplets(db: Kysely<any>): Promise<void> {
  await table(db).deleteFrom('proplets').execute();
}
