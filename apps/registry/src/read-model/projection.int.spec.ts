import { waitForSequence } from '@propeller/projections';
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
});
