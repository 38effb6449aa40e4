import { sql } from 'kysely';
import { getCheckpoint, waitForSequence } from '../src';
import { ledgerProjection } from './ledger';
import { balances, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

describe('a projection whose Postgres connection is killed mid-transaction (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('retries from its checkpoint instead of stalling, and applies every event exactly once', async () => {
    const events = ledgerEvents(900);
    const seqs = await publishLedger(env.nc, env.names, events);
    let killed = 0;
    const projection = ledgerProjection({
      // Half-way through the second batch, the server terminates the very connection holding the transaction.
      afterApply: async (applied, trx) => {
        if (applied !== 650) return;
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        // Another pooled connection kills exactly this transaction's backend.
        const res = await sql<{ ok: boolean }>`select pg_terminate_backend(${rows[0]?.pid}::int) as ok`.execute(env.db);
        if (res.rows[0]?.ok) killed += 1;
      },
    });
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_: object, msg: string) => void warnings.push(msg) };
    const { runner } = env.runner([projection], { logger });
    runner.start();

    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);
    expect(killed).toBe(1);
    expect(warnings).toContain('projection interrupted, retrying');
    expect(runner.state('ledger').state).toBe('running');
    expect((await getCheckpoint(env.db, 'ledger'))?.status).toBe('running');
    const counts = await env.db
      .selectFrom('ledger_entries')
      .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct seq)::int`.as('distinct')])
      .executeTakeFirstOrThrow();
    expect(counts).toEqual({ rows: 900, distinct: 900 });
    expect(await balances(env.db)).toEqual(expectedBalances(events));
  });
});
