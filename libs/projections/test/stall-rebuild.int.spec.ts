import { getCheckpoint, STALLED_METRIC, waitForSequence } from '../src';
import { ledgerProjection } from './ledger';
import { balances, eventually, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

async function stalledGauge(registry: import('prom-client').Registry, projection: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(STALLED_METRIC)?.get();
  return metric?.values.find((v) => v.labels['projection'] === projection)?.value;
}

describe('a poisoned event (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  let fixed = false;

  it('stalls the projection at that event: status, error, metric and health say so, and nothing after it is applied', async () => {
    const good = ledgerEvents(20);
    const goodSeqs = await publishLedger(env.nc, env.names, good);
    const [poisonSeq] = await publishLedger(env.nc, env.names, [{ account: 'acct-1', type: 'Poisoned', amount: 1 }]);
    const later = await publishLedger(env.nc, env.names, ledgerEvents(5, 2, 100));
    const { runner, registry } = env.runner([ledgerProjection({ poisonThrows: () => !fixed })]);
    const { runner: standby, registry: standbyRegistry } = env.runner([ledgerProjection()]);
    runner.start();

    await eventually('the projection to stall', () => runner.state('ledger').state === 'stalled');
    const cp = await getCheckpoint(env.db, 'ledger');
    expect(cp).toMatchObject({ status: 'stalled', seq: goodSeqs.at(-1) });
    expect(cp?.error).toMatch(new RegExp(`^projection ledger cannot apply event ${poisonSeq} \\(Poisoned\\): cannot apply .* poisoned on purpose$`));
    expect(await stalledGauge(registry, 'ledger')).toBe(1);
    expect(runner.health()).toEqual({
      status: 'degraded',
      reason: `projection ledger stalled: ${cp?.error}`,
      projections: [{ name: 'ledger', state: 'stalled', seq: goodSeqs.at(-1), reason: cp?.error }],
    });
    // Everything before the poison, nothing after it; and a wait on a later event does not pass.
    expect(await balances(env.db)).toEqual(expectedBalances(good));
    expect(await waitForSequence(env.db, 'ledger', lastOf(later), 300)).toBe(false);

    // A standby replica (no lease: the stalled one keeps it) reports the same from the checkpoint row.
    standby.start();
    await eventually('the standby to see the stall', () => standby.health().status === 'degraded');
    expect(standby.state('ledger')).toMatchObject({ state: 'stalled', reason: cp?.error });
    expect(await stalledGauge(standbyRegistry, 'ledger')).toBe(1);
    await standby.stop();

    // The fix is deployed; a rebuild replays everything, clears the stall and reaches the end.
    fixed = true;
    await runner.rebuild('ledger');
    expect(await waitForSequence(env.db, 'ledger', lastOf(later), 10_000)).toBe(true);
    expect(await balances(env.db)).toEqual(expectedBalances([...good, ...ledgerEvents(5, 2, 100)]));
    expect(await getCheckpoint(env.db, 'ledger')).toMatchObject({ status: 'running', error: null });
    expect(await stalledGauge(registry, 'ledger')).toBe(0);
    expect(runner.health().status).toBe('ok');
    await runner.stop();
  });
});

describe('rebuild (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('empties and replays a projection into the same rows, row for row, as it had built live', async () => {
    const { runner } = env.runner([ledgerProjection()]);
    runner.start();
    // Built live in many small batches, with unhandled types mixed in...
    let last = 0;
    for (let round = 0; round < 6; round++) {
      const seqs = await publishLedger(env.nc, env.names, [...ledgerEvents(37, 5, round * 37), { account: 'acct-2', type: 'Noted', amount: 9 }]);
      last = lastOf(seqs);
      expect(await waitForSequence(env.db, 'ledger', last, 10_000)).toBe(true);
    }
    const liveTx = new Set((await env.db.selectFrom('ledger_entries').select('tx').execute()).map((r) => r.tx));
    const live = await env.db.selectFrom('ledger_entries').select(['seq', 'account', 'amount']).orderBy('seq').execute();
    const liveBalances = await balances(env.db);
    expect(live).toHaveLength(6 * 37);

    // ...then rebuilt in one catch-up.
    await runner.rebuild('ledger');
    expect(await waitForSequence(env.db, 'ledger', last, 10_000)).toBe(true);
    const rebuilt = await env.db.selectFrom('ledger_entries').select(['seq', 'account', 'amount']).orderBy('seq').execute();
    expect(rebuilt).toEqual(live);
    // Really rewritten by the replay, not left in place: no row comes from a live transaction.
    const rebuiltTx = (await env.db.selectFrom('ledger_entries').select('tx').execute()).map((r) => r.tx);
    expect(rebuiltTx.filter((tx) => liveTx.has(tx))).toEqual([]);
    expect(await balances(env.db)).toEqual(liveBalances);
    // And it keeps going live afterwards.
    const next = lastOf(await publishLedger(env.nc, env.names, [{ account: 'acct-0', type: 'Deposited', amount: 5 }]));
    expect(await waitForSequence(env.db, 'ledger', next, 5000)).toBe(true);
    expect((await balances(env.db))['acct-0']?.balance).toBe((liveBalances['acct-0']?.balance ?? 0) + 5);
  });

  it('is refused on an instance that does not hold the lease', async () => {
    const { runner: standby } = env.runner([ledgerProjection()]);
    await expect(standby.rebuild('ledger')).rejects.toMatchObject({ code: 'NotLeader' });
  });
});
