import { sql } from 'kysely';
import { getCheckpoint, waitForSequence } from '../src';
import { ledgerProjection, type LedgerCalls } from './ledger';
import { balances, eventually, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

// A projection with `applyBatch` gets each runner transaction's events at once; everything else (exactly once,
// stalls at the exact event, retries on connection failures, rebuild) holds as with `apply`.

const newCalls = (): LedgerCalls => ({ apply: 0, applyBatch: 0, batchSizes: [] });

describe('a projection with applyBatch (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('is given whole batches of at most 500, never single events, and applies each event once', async () => {
    const events = ledgerEvents(1200);
    const seqs = await publishLedger(env.nc, env.names, [...events, { account: 'acct-1', type: 'Noted', amount: 5 }]);
    const calls = newCalls();
    const { runner } = env.runner([ledgerProjection({ batched: true }, calls)]);
    runner.start();

    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);
    expect(await balances(env.db)).toEqual(expectedBalances(events));
    expect(calls.apply).toBe(0);
    expect(calls.batchSizes.reduce((a, b) => a + b, 0)).toBe(1200);
    expect(Math.max(...calls.batchSizes)).toBeLessThanOrEqual(500);
    // Catch-up runs in large batches, not one event at a time.
    expect(calls.applyBatch).toBeLessThanOrEqual(10);
    const perTx = await env.db.selectFrom('ledger_entries').select(['tx', sql<number>`count(*)::int`.as('n')]).groupBy('tx').execute();
    expect(perTx.length).toBe(calls.applyBatch);
    await runner.stop();
  });
});

describe('a poisoned event inside a batch (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('is found event by event: the projection stalls exactly at it, with every event before it applied once', async () => {
    const good = ledgerEvents(30);
    const goodSeqs = await publishLedger(env.nc, env.names, good);
    const [poisonSeq] = await publishLedger(env.nc, env.names, [{ account: 'acct-1', type: 'Poisoned', amount: 1 }]);
    const later = ledgerEvents(5, 2, 100);
    const laterSeqs = await publishLedger(env.nc, env.names, later);
    let fixed = false;
    const calls = newCalls();
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
    const { runner } = env.runner([ledgerProjection({ batched: true, poisonThrows: () => !fixed }, calls)], { logger });
    runner.start();

    await eventually('the projection to stall', () => runner.state('ledger').state === 'stalled');
    expect(warnings).toContain('projection batch failed, applying it event by event');
    expect(calls.apply).toBeGreaterThan(0);
    const cp = await getCheckpoint(env.db, 'ledger');
    expect(cp).toMatchObject({ status: 'stalled', seq: lastOf(goodSeqs) });
    expect(cp?.error).toMatch(new RegExp(`^projection ledger cannot apply event ${poisonSeq} \\(Poisoned\\): cannot apply .* poisoned on purpose$`));
    expect(await balances(env.db)).toEqual(expectedBalances(good));
    const counts = await env.db
      .selectFrom('ledger_entries')
      .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct seq)::int`.as('distinct')])
      .executeTakeFirstOrThrow();
    expect(counts).toEqual({ rows: 30, distinct: 30 });

    // Fixed and rebuilt: the whole log goes through the batch path again, to the end.
    fixed = true;
    const before = calls.apply;
    await runner.rebuild('ledger');
    expect(await waitForSequence(env.db, 'ledger', lastOf(laterSeqs), 10_000)).toBe(true);
    expect(await balances(env.db)).toEqual(expectedBalances([...good, ...later]));
    expect(calls.apply).toBe(before);
    expect(runner.health().status).toBe('ok');
    await runner.stop();
  });
});

describe('a batched projection whose connection is killed mid-batch (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('retries the batch from its checkpoint (not event by event, not a stall), applying every event once', async () => {
    const events = ledgerEvents(900);
    const seqs = await publishLedger(env.nc, env.names, events);
    let killed = 0;
    const calls = newCalls();
    const projection = ledgerProjection(
      {
        batched: true,
        afterApply: async (_applied, trx) => {
          if (killed > 0) return;
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          const res = await sql<{ ok: boolean }>`select pg_terminate_backend(${rows[0]?.pid}::int) as ok`.execute(env.db);
          if (res.rows[0]?.ok) killed += 1;
          // Once the backend is gone, the next statement of the batch meets the dead connection (and so does the rollback).
          await eventually('the backend to exit', async () => {
            const left = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where pid = ${rows[0]?.pid}::int`.execute(env.db);
            return left.rows[0]?.n === 0;
          });
          await sql`select 1`.execute(trx);
        },
      },
      calls,
    );
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
    const { runner } = env.runner([projection], { logger });
    runner.start();

    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);
    expect(killed).toBe(1);
    expect(warnings).toContain('projection interrupted, retrying');
    expect(warnings).not.toContain('projection batch failed, applying it event by event');
    expect(calls.apply).toBe(0);
    expect(runner.state('ledger').state).toBe('running');
    const counts = await env.db
      .selectFrom('ledger_entries')
      .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct seq)::int`.as('distinct')])
      .executeTakeFirstOrThrow();
    expect(counts).toEqual({ rows: 900, distinct: 900 });
    expect(await balances(env.db)).toEqual(expectedBalances(events));
    await runner.stop();
  });
});

describe('a batched projection whose statement is cancelled by the server (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('treats the cancel (SQLSTATE 57014) as transient: retries the batch, neither event by event nor a stall', async () => {
    const events = ledgerEvents(300);
    const seqs = await publishLedger(env.nc, env.names, events);
    let cancelled = 0;
    const calls = newCalls();
    const projection = ledgerProjection(
      {
        batched: true,
        // The first batch runs into a statement timeout: the connection survives, the transaction rolls back.
        afterApply: async (_applied, trx) => {
          if (cancelled > 0) return;
          cancelled += 1;
          await sql`set local statement_timeout = 50`.execute(trx);
          await sql`select pg_sleep(5)`.execute(trx);
        },
      },
      calls,
    );
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
    const { runner } = env.runner([projection], { logger });
    runner.start();

    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);
    expect(cancelled).toBe(1);
    expect(warnings).toContain('projection interrupted, retrying');
    expect(warnings).not.toContain('projection batch failed, applying it event by event');
    expect(calls.apply).toBe(0);
    expect(calls.applyBatch).toBeGreaterThanOrEqual(2);
    expect((await getCheckpoint(env.db, 'ledger'))?.status).toBe('running');
    expect(await balances(env.db)).toEqual(expectedBalances(events));
    await runner.stop();
  });
});

describe('events that arrive while a batch is being applied (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('are applied together in the next transaction, not one transaction each', async () => {
    // The first transaction is held open until 40 more events, published one at a time, are in the stream.
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => (release = r));
    let entered: (() => void) | undefined;
    const inFirst = new Promise<void>((r) => (entered = r));
    let first = true;
    const projection = ledgerProjection({
      afterApply: async () => {
        if (!first) return;
        first = false;
        entered?.();
        await held;
      },
    });
    const { runner } = env.runner([projection]);
    runner.start();
    await publishLedger(env.nc, env.names, [{ account: 'a', type: 'Deposited', amount: 1 }]);
    await inFirst;
    const later = ledgerEvents(40, 1, 200);
    let last = 0;
    for (const e of later) last = lastOf(await publishLedger(env.nc, env.names, [e]));
    release?.();

    expect(await waitForSequence(env.db, 'ledger', last, 10_000)).toBe(true);
    expect(await balances(env.db)).toEqual(expectedBalances([{ account: 'a', type: 'Deposited', amount: 1 }, ...later]));
    const perTx = await env.db.selectFrom('ledger_entries').select(['tx', sql<number>`count(*)::int`.as('n')]).groupBy('tx').execute();
    // The first event alone, then the 40 that were waiting in (nearly) one go rather than 40 transactions.
    expect(perTx.length).toBeLessThanOrEqual(3);
    await runner.stop();
  });
});
