import { sql } from 'kysely';
import { CHECKPOINT_METRIC, getCheckpoint, waitForSequence } from '../src';
import { ledgerProjection } from './ledger';
import { Kvm } from '@nats-io/kv';
import { Lease } from '@propeller/eventstore';
import { balances, eventually, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

describe('ProjectionRunner (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('catches up on 1,200 events in transactions of at most 500, each event applied once', async () => {
    const events = ledgerEvents(1200);
    const seqs = await publishLedger(env.nc, env.names, events);
    const { runner, registry } = env.runner([ledgerProjection()]);
    runner.start();

    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);
    // The gauge follows the commit that `waitForSequence` saw, so wait for it rather than race it.
    const gaugeValues = async () => (await registry.getSingleMetric(CHECKPOINT_METRIC)?.get())?.values;
    await eventually('the checkpoint gauge to reach the last sequence', async () => (await gaugeValues())?.[0]?.value === lastOf(seqs));
    expect(await gaugeValues()).toEqual([{ labels: { projection: 'ledger' }, value: lastOf(seqs) }]);
    expect(await balances(env.db)).toEqual(expectedBalances(events));
    const perTx = await env.db
      .selectFrom('ledger_entries')
      .select(['tx', sql<number>`count(*)::int`.as('n')])
      .groupBy('tx')
      .execute();
    expect(perTx.reduce((s, r) => s + r.n, 0)).toBe(1200);
    expect(Math.max(...perTx.map((r) => r.n))).toBeLessThanOrEqual(500);
    expect(perTx.length).toBeGreaterThanOrEqual(3);
    expect(runner.health()).toEqual({ status: 'ok', projections: [{ name: 'ledger', state: 'running', seq: lastOf(seqs) }] });
  });

  it('moves its checkpoint past events of types it does not handle, without applying them', async () => {
    const before = await balances(env.db);
    const seqs = await publishLedger(env.nc, env.names, [
      { account: 'acct-0', type: 'Noted', amount: 1000 },
      { account: 'acct-0', type: 'Noted', amount: 1000 },
    ]);
    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 5000)).toBe(true);
    expect((await getCheckpoint(env.db, 'ledger'))?.seq).toBe(lastOf(seqs));
    expect(await balances(env.db)).toEqual(before);
  });

  it('lets a writer read its own write: waitForSequence answers once the row is there, and times out past the end', async () => {
    const seq = lastOf(await publishLedger(env.nc, env.names, [{ account: 'fresh', type: 'Deposited', amount: 42 }]));
    expect(await waitForSequence(env.db, 'ledger', seq, 5000)).toBe(true);
    // No sleep between: the row is visible as soon as the wait answers.
    expect((await balances(env.db))['fresh']).toEqual({ balance: 42, entries: 1 });
    expect(await waitForSequence(env.db, 'ledger', seq + 1, 300)).toBe(false);
  });

  it('runs on one instance at a time; a second waits on the lease and takes over when the first stops', async () => {
    // Counts the second instance's "not held" answers; each comes after the real Lease had time to try.
    let refused = 0;
    const { runner: second } = env.runner([ledgerProjection()], {
      openLease: async (key) => {
        const lease = await Lease.open(env.nc, env.names, key);
        return {
          start: () => lease.start(),
          release: () => lease.release(),
          isHeld: () => {
            const held = lease.isHeld();
            if (!held) refused += 1;
            return held;
          },
        };
      },
    });
    second.start();
    const first = env.runners[0];
    if (first === undefined) throw new Error('the first test starts a runner');
    // Several standby polls of 200 ms (the lease retries every 150 ms meanwhile): the first really holds it.
    await eventually('three standby polls', () => refused >= 3);
    expect(second.state('ledger').state).toBe('standby');

    await first.stop();
    const events = ledgerEvents(10, 3, 5000);
    const before = await balances(env.db);
    const seqs = await publishLedger(env.nc, env.names, events);
    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 10_000)).toBe(true);
    expect(second.state('ledger').state).toBe('running');
    const after = await balances(env.db);
    const added = expectedBalances(events);
    for (const [account, b] of Object.entries(added)) {
      expect(after[account]).toEqual({
        balance: (before[account]?.balance ?? 0) + b.balance,
        entries: (before[account]?.entries ?? 0) + b.entries,
      });
    }
  });

  it('steps back when its lease is taken away, and the new holder goes on without applying anything twice', async () => {
    const holder = env.runners[1]; // the second instance, running since the previous test
    if (holder === undefined) throw new Error('the previous test starts a second runner');
    const { runner: third } = env.runner([ledgerProjection()]);
    third.start();
    await eventually('the third to wait', () => third.state('ledger').state === 'standby');

    // Take the lease away from under the holder (as an expiry during a long GC pause would).
    const kv = await new Kvm(env.nc).open(env.names.kv.leases);
    await kv.delete('projection.ledger');
    await eventually('the third to take over', () => third.state('ledger').state === 'running');
    await eventually('the old holder to step back', () => holder.state('ledger').state === 'standby');

    const before = await balances(env.db);
    const events = ledgerEvents(50, 2, 9000);
    const seqs = await publishLedger(env.nc, env.names, events);
    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 10_000)).toBe(true);
    const after = await balances(env.db);
    for (const [account, b] of Object.entries(expectedBalances(events))) {
      expect(after[account]).toEqual({
        balance: (before[account]?.balance ?? 0) + b.balance,
        entries: (before[account]?.entries ?? 0) + b.entries,
      });
    }
  });
});
