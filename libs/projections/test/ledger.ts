/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen against Kysely<any> */
import { sql, type Generated, type Kysely, type Migration, type Transaction } from 'kysely';
import type { StoredEnvelope } from '@propeller/events';
import type { Projection } from '../src';

/**
 * A small read model for the tests: every applied event leaves one `ledger_entries` row (no unique key, so a
 * double apply shows as an extra row) and moves `ledger_balances` (so a double apply also shows in the sum).
 * `tx` records the transaction each row was written in, to see the batches.
 */
export interface LedgerDB {
  ledger_entries: { seq: number; account: string; amount: number; tx: Generated<string> };
  ledger_balances: { account: string; balance: number; entries: number };
}

export const ledgerMigrations: Record<string, Migration> = {
  '20261127T1410_create_ledger': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('ledger_entries')
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('amount', 'integer', (c) => c.notNull())
        .addColumn('tx', 'text', (c) => c.notNull().defaultTo(sql`txid_current()::text`))
        .execute();
      await db.schema
        .createTable('ledger_balances')
        .addColumn('account', 'text', (c) => c.primaryKey())
        .addColumn('balance', 'bigint', (c) => c.notNull())
        .addColumn('entries', 'integer', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('ledger_entries').execute();
      await db.schema.dropTable('ledger_balances').execute();
    },
  },
};

/** Event types: `Deposited`/`Withdrawn` move money, `Poisoned` cannot be applied, `Noted` is not this projection's. */
export type LedgerEventType = 'Deposited' | 'Withdrawn' | 'Poisoned' | 'Noted';

export interface LedgerOptions {
  name?: string;
  /** Called after each applied event with the count applied by this projection object so far, and the transaction. */
  afterApply?: (applied: number, trx: Transaction<LedgerDB>) => Promise<void>;
  /** Whether `Poisoned` throws (default always); a test flips it to play "the fix was deployed". */
  poisonThrows?: () => boolean;
  /** Also give the projection an `applyBatch` (two multi-row statements per batch); it counts its calls in `calls`. */
  batched?: boolean;
}

/** How often a ledger projection's `apply` and `applyBatch` ran (committed or not). */
export interface LedgerCalls {
  apply: number;
  applyBatch: number;
  /** Sizes of the batches `applyBatch` was given. */
  batchSizes: number[];
}

export function ledgerProjection(options: LedgerOptions = {}, calls: LedgerCalls = { apply: 0, applyBatch: 0, batchSizes: [] }): Projection<LedgerDB> {
  let applied = 0;
  const projection: Projection<LedgerDB> = {
    name: options.name ?? 'ledger',
    types: ['Deposited', 'Withdrawn', 'Poisoned'],
    async apply(trx, event: StoredEnvelope) {
      calls.apply += 1;
      const { amount } = event.data as { amount: number };
      if (event.type === 'Poisoned') {
        if (options.poisonThrows?.() ?? true) throw new Error(`cannot apply ${event.id}: poisoned on purpose`);
        return; // "fixed": a poisoned event is a no-op
      }
      const signed = event.type === 'Withdrawn' ? -amount : amount;
      await trx.insertInto('ledger_entries').values({ seq: event.seq, account: event.aggregateId, amount: signed }).execute();
      await trx
        .insertInto('ledger_balances')
        .values({ account: event.aggregateId, balance: signed, entries: 1 })
        .onConflict((oc) =>
          oc.column('account').doUpdateSet({
            balance: sql`ledger_balances.balance + excluded.balance`,
            entries: sql`ledger_balances.entries + 1`,
          }),
        )
        .execute();
      applied += 1;
      if (options.afterApply) await options.afterApply(applied, trx);
    },
    async reset(trx) {
      await trx.deleteFrom('ledger_entries').execute();
      await trx.deleteFrom('ledger_balances').execute();
    },
  };
  if (!options.batched) return projection;
  projection.applyBatch = async (trx, events) => {
    calls.applyBatch += 1;
    calls.batchSizes.push(events.length);
    // Folded per account in memory, then one insert of the entries and one upsert of the balances.
    const entries: Array<{ seq: number; account: string; amount: number }> = [];
    const moved = new Map<string, { balance: number; entries: number }>();
    for (const event of events) {
      if (event.type === 'Poisoned') {
        if (options.poisonThrows?.() ?? true) throw new Error(`cannot apply a batch with ${event.id}: poisoned on purpose`);
        continue;
      }
      const { amount } = event.data as { amount: number };
      const signed = event.type === 'Withdrawn' ? -amount : amount;
      entries.push({ seq: event.seq, account: event.aggregateId, amount: signed });
      const m = moved.get(event.aggregateId) ?? { balance: 0, entries: 0 };
      moved.set(event.aggregateId, { balance: m.balance + signed, entries: m.entries + 1 });
    }
    if (entries.length === 0) return;
    await trx.insertInto('ledger_entries').values(entries).execute();
    await trx
      .insertInto('ledger_balances')
      .values([...moved].map(([account, m]) => ({ account, ...m })))
      .onConflict((oc) =>
        oc.column('account').doUpdateSet({
          balance: sql`ledger_balances.balance + excluded.balance`,
          entries: sql`ledger_balances.entries + excluded.entries`,
        }),
      )
      .execute();
    applied += entries.length;
    if (options.afterApply) await options.afterApply(applied, trx);
  };
  return projection;
}
