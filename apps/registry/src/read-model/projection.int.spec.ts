import { EventStore } from '@propeller/eventstore';
import { testEnvelope, waitFor } from '@propeller/eventstore/testing';
import { getCheckpoint, waitForSequence } from '@propeller/projections';
import { getProplet } from '@propeller/read-models';
import { openWorld, type RegistryWorld } from '../testing/world';
import { PROPLETS_PROJECTION } from './projection';

// A rebuild replays the log into an empty table: it must equal the live table row for row.

describe('proplets projection', () => {
  let w: RegistryWorld;

  beforeAll(async () => {
    w = await openWorld();
  });

  afterAll(async () => {
    await w?.close();
  });

  const reg = (id: string, labels: Record<string, string> = {}) => ({
    propletId: id,
    type: 'external' as const,
    deviceType: 'rpi',
    capabilities: ['wasm'],
    labels,
    dialect: 'wasmtime' as const,
    channel: { domainId: 'propeller', channelId: 'control', layout: 'messages' as const, perPropletTopics: false },
  });
  const rows = () => w.db.selectFrom('proplets').selectAll().orderBy('id').execute();

  it('rebuilds to exactly the live table', async () => {
    for (const id of ['p1', 'p2', 'p3', 'p4']) await w.send('proplet.register', reg(id, { n: id }));
    await w.send('proplet.label', { propletId: 'p1', labels: { zone: 'a' }, capabilities: ['wasm', 'gpu'] });
    await w.send('proplet.cordon', { propletId: 'p2' });
    await w.send('proplet.deregister', { propletId: 'p3', reason: 'gone' });
    await w.send('proplet.register', reg('p1', { n: 'again' }));
    await w.send('proplet.deregister', { propletId: 'p4', reason: 'gone' });
    const last = await w.sendAndSettle('proplet.register', reg('p4', { n: 'back' }));

    const live = await rows();
    expect(live.map((r) => r.id)).toEqual(['p1', 'p2', 'p4']);

    await w.registry.runner.rebuild(PROPLETS_PROJECTION);
    expect(await waitForSequence(w.db, PROPLETS_PROJECTION, last.lastSequence, 10_000)).toBe(true);
    expect(await rows()).toEqual(live);
  });

  // Last in this file: it leaves the projection stalled.
  it('stops on an event it cannot apply, reports degraded health, and applies nothing after it', async () => {
    const before = await w.sendAndSettle('proplet.register', reg('before-bad'));
    const bad = await new EventStore(w.nc, w.names).append(
      'proplet',
      'broken',
      [testEnvelope('proplet', 'broken', { type: 'PropletRegistered', schemaVersion: 2, data: { type: 'external' } })],
      0,
    );
    await w.send('proplet.register', reg('after-bad'));

    await waitFor(() => w.registry.runner.state(PROPLETS_PROJECTION).state === 'stalled', 'the projection to stall');
    expect(w.registry.checks.projections()).toEqual({ status: 'degraded', detail: expect.stringMatching(/proplets.*PropletRegistered/) });
    // The stall is recorded in the checkpoint row too, so standby replicas report it.
    await waitFor(async () => (await getCheckpoint(w.db, PROPLETS_PROJECTION))?.status === 'stalled', 'the stall in the checkpoint row');
    expect(await getCheckpoint(w.db, PROPLETS_PROJECTION)).toMatchObject({ seq: before.lastSequence });
    expect(bad.lastSequence).toBeGreaterThan(before.lastSequence);
    expect(await getProplet(w.db, 'after-bad')).toBeUndefined();
  });
});
