import { randomUUID } from 'node:crypto';
import { EventStore } from '@propeller/eventstore';
import { getCheckpoint, waitForSequence } from '../src';
import { ledgerProjection } from './ledger';
import { balances, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

describe('a projection filtered to one aggregate (real NATS + Postgres)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(() => env.close());

  it('reads only that aggregate’s subjects: events of another aggregate never reach apply', async () => {
    const store = new EventStore(env.nc, env.names);
    // A poisoned event on another aggregate, between two runs of account events: were it read, the projection would stall.
    const before = ledgerEvents(10);
    await publishLedger(env.nc, env.names, before);
    const noiseSeq = await appendNoise(store);
    const after = ledgerEvents(10, 7, 10);
    const seqs = await publishLedger(env.nc, env.names, after);
    expect(noiseSeq).toBeLessThan(lastOf(seqs));

    const projection = { ...ledgerProjection({ name: 'accounts' }), aggregate: 'account' };
    const { runner } = env.runner([projection]);
    runner.start();
    expect(await waitForSequence(env.db, 'accounts', lastOf(seqs), 10_000)).toBe(true);
    expect(runner.state('accounts').state).toBe('running');
    expect((await getCheckpoint(env.db, 'accounts'))?.status).toBe('running');
    expect(await balances(env.db)).toEqual(expectedBalances([...before, ...after]));
  });
});

async function appendNoise(store: EventStore): Promise<number> {
  const id = `noise-${randomUUID()}`;
  const r = await store.append(
    'noise',
    id,
    [
      {
        id: randomUUID(),
        type: 'Poisoned',
        schemaVersion: 1,
        aggregate: 'noise',
        aggregateId: id,
        occurredAt: new Date().toISOString(),
        correlationId: randomUUID(),
        causationId: null,
        traceparent: null,
        data: { amount: 1 },
      },
    ],
    0,
  );
  return r.lastSequence;
}
