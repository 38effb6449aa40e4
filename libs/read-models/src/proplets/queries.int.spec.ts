import type { Kysely } from 'kysely';
import { migrate } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import { getProplet, getPropletOrThrow, listProplets, propletsMigrations, upsertProplet, type PropletRowInput, type ReadModelTables, type RowHealth } from '.';

/** A row with sensible defaults; every column can be overridden. */
function row(id: string, over: Partial<PropletRowInput> = {}): PropletRowInput {
  return {
    id,
    type: 'external',
    device_type: 'esp32',
    capabilities: ['wasm'],
    labels: JSON.stringify({}),
    capacity: JSON.stringify({}),
    max_tasks: null,
    health: 'healthy',
    observed_at: '2026-11-27T13:00:00.000Z',
    cordoned: false,
    domain_id: 'propeller',
    channel_id: 'control',
    layout: 'messages',
    per_proplet_topics: false,
    dialect: 'wamr',
    extension_version: null,
    metadata: JSON.stringify({}),
    owner: null,
    registered_at: '2026-11-27T12:00:00.000Z',
    updated_at: '2026-11-27T13:00:00.000Z',
    state: JSON.stringify({ status: 'active' }),
    last_seq: 1,
    ...over,
  };
}

const labels = (l: Record<string, string>) => JSON.stringify(l);

// A fleet where every filter selects a different, known subset.
const fleet: PropletRowInput[] = [
  row('esp32-1', { capabilities: ['wasm', 'sensor'], labels: labels({ 'propeller.io/site': 'plant-a', zone: 'north' }) }),
  row('esp32-2', { capabilities: ['wasm', 'sensor', 'wifi'], labels: labels({ 'propeller.io/site': 'plant-a', zone: 'south' }), health: 'offline' }),
  row('esp32-3', { capabilities: ['wasm'], labels: labels({ 'propeller.io/site': 'plant-b' }), health: 'failed' }),
  row('rpi-1', { device_type: 'rpi', dialect: 'wasmtime', capabilities: ['wasm', 'gpu'], labels: labels({ 'propeller.io/site': 'plant-b', zone: 'north' }), health: 'unknown' }),
  row('pod-1', { type: 'k8s', device_type: 'k8s-pod', dialect: 'wasmtime', capabilities: ['wasm', 'compute'], labels: labels({ zone: '' }) }),
  row('pod-2', { type: 'k8s', device_type: 'k8s-pod', dialect: 'wasmtime', capabilities: ['wasm', 'compute'], cordoned: true }),
];

const ids = (page: { proplets: Array<{ id: string }> }) => page.proplets.map((p) => p.id);

describe('proplets read model queries', () => {
  let t: ReturnType<typeof testDb<ReadModelTables>>;
  let db: Kysely<ReadModelTables>;

  beforeAll(async () => {
    t = testDb<ReadModelTables>({ poolMax: 2 });
    db = t.db;
    await migrate(db, { migrations: propletsMigrations });
    for (const r of fleet) await upsertProplet(db, r);
  });

  afterAll(async () => {
    await t.drop();
  });

  it('lists every proplet in id order with the total', async () => {
    const page = await listProplets(db);
    expect(page).toMatchObject({ offset: 0, limit: 100, total: 6 });
    expect(ids(page)).toEqual(['esp32-1', 'esp32-2', 'esp32-3', 'pod-1', 'pod-2', 'rpi-1']);
  });

  it('pages with offset and limit while total counts every match', async () => {
    expect(await listProplets(db, { offset: 2, limit: 2 }).then((p) => [ids(p), p.total])).toEqual([['esp32-3', 'pod-1'], 6]);
    expect(await listProplets(db, { offset: 6, limit: 2 }).then((p) => [ids(p), p.total])).toEqual([[], 6]);
  });

  it.each<[string, Parameters<typeof listProplets>[1], string[]]>([
    ['type', { type: 'k8s' }, ['pod-1', 'pod-2']],
    ['health', { health: 'offline' }, ['esp32-2']],
    ['several healths', { health: ['offline', 'failed'] as RowHealth[] }, ['esp32-2', 'esp32-3']],
    ['device type', { deviceType: 'rpi' }, ['rpi-1']],
    ['capability', { capability: 'sensor' }, ['esp32-1', 'esp32-2']],
    ['all of several capabilities', { capability: ['sensor', 'wifi'] }, ['esp32-2']],
    ['label', { label: 'propeller.io/site=plant-a' }, ['esp32-1', 'esp32-2']],
    ['all of several labels', { label: ['propeller.io/site=plant-b', 'zone=north'] }, ['rpi-1']],
    ['an empty label value', { label: 'zone=' }, ['pod-1']],
    ['status active (healthy or unknown, cordoned or not)', { status: 'active' }, ['esp32-1', 'pod-1', 'pod-2', 'rpi-1']],
    ['status inactive (offline or failed)', { status: 'inactive' }, ['esp32-2', 'esp32-3']],
    ['filters combined', { type: 'external', status: 'active', capability: 'wasm', label: 'zone=north' }, ['esp32-1', 'rpi-1']],
  ])('filters by %s', async (_what, query, expected) => {
    const page = await listProplets(db, query);
    expect(ids(page)).toEqual(expected);
    expect(page.total).toBe(expected.length);
  });

  it('counts the total of a filtered list across pages', async () => {
    const page = await listProplets(db, { status: 'active', limit: 1, offset: 1 });
    expect(ids(page)).toEqual(['pod-1']);
    expect(page.total).toBe(4);
  });

  it.each<[Parameters<typeof listProplets>[1], RegExp]>([
    [{ limit: 0 }, /^limit: must be an integer from 1 to 1000/],
    [{ limit: 1001 }, /^limit/],
    [{ offset: -1 }, /^offset/],
    [{ health: 'deregistered' as RowHealth }, /^health: must be one of healthy, unknown, offline, failed/],
    [{ status: 'alive' as 'active' }, /^status/],
    [{ label: 'zone' }, /^label: must be key=value/],
    [{ label: '=x' }, /^label/],
    [{ type: 'vm' as 'k8s' }, /^type/],
  ])('refuses a bad query %j as Invalid, naming the field', async (query, message) => {
    await expect(listProplets(db, query)).rejects.toMatchObject({ code: 'Invalid', message: expect.stringMatching(message) });
  });

  it('reads one proplet in domain casing with its channel, ISO times and derived activity', async () => {
    expect(await getPropletOrThrow(db, 'esp32-2')).toEqual({
      id: 'esp32-2',
      type: 'external',
      deviceType: 'esp32',
      capabilities: ['wasm', 'sensor', 'wifi'],
      labels: { 'propeller.io/site': 'plant-a', zone: 'south' },
      capacity: {},
      maxTasks: null,
      health: 'offline',
      observedAt: '2026-11-27T13:00:00.000Z',
      active: false,
      cordoned: false,
      channel: { domainId: 'propeller', channelId: 'control', layout: 'messages', perPropletTopics: false },
      dialect: 'wamr',
      extensionVersion: null,
      taskCount: 0,
      runningTaskCount: 0,
      metadata: {},
      owner: null,
      registeredAt: '2026-11-27T12:00:00.000Z',
      updatedAt: '2026-11-27T13:00:00.000Z',
      seq: 1,
    });
  });

  it('answers undefined, or NotFound, for an unknown proplet', async () => {
    expect(await getProplet(db, 'nope')).toBeUndefined();
    await expect(getPropletOrThrow(db, 'nope')).rejects.toMatchObject({ code: 'NotFound', message: 'proplet nope is not registered' });
  });

  it('replaces a row on upsert and keeps the task counts it does not own', async () => {
    await db.updateTable('proplets').set({ task_count: 3 }).where('id', '=', 'pod-2').execute();
    await upsertProplet(db, row('pod-2', { type: 'k8s', device_type: 'k8s-pod', cordoned: false, last_seq: 9 }));
    expect(await getPropletOrThrow(db, 'pod-2')).toMatchObject({ cordoned: false, taskCount: 3, seq: 9 });
  });
});
