import { EventStore, Lease } from '@propeller/eventstore';
import { LEASE_NAMES, type CommandDataInput } from '@propeller/events';
import { getProplet, getPropletOrThrow, listProplets } from '@propeller/read-models';
import { openWorld, type RegistryWorld } from './testing/world';

// Commands over request/reply → the `proplets` row, with real NATS and Postgres (own prefix and schema).

const T0 = '2026-11-27T13:00:00.000Z';
const T1 = '2026-11-27T13:01:00.000Z';
const T2 = '2026-11-27T13:02:00.000Z';

/** A registration as the gateway sends it after deriving the fields from a `create`. */
function esp32(id: string, over: Partial<CommandDataInput<'proplet.register'>> = {}): CommandDataInput<'proplet.register'> {
  return {
    propletId: id,
    type: 'external',
    deviceType: 'esp32-s3',
    capabilities: ['wasm', 'sensor', 'wifi'],
    labels: { 'propeller.io/site': 'plant-a', room: 'Living room' },
    capacity: { memory: '512Ki' },
    maxTasks: 2,
    dialect: 'wamr',
    channel: { domainId: 'propeller', channelId: `ch-${id}`, layout: 'direct', perPropletTopics: true },
    metadata: { os: 'zephyr', namespace: 'embedded', totalMemoryBytes: 524288 },
    extensionVersion: 1,
    ...over,
  };
}

describe('registry commands → proplets read model', () => {
  let w: RegistryWorld;
  let judge: Lease;
  let token: number;

  beforeAll(async () => {
    w = await openWorld();
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'judge-1' })).start();
    token = await judge.waitUntilHeld(5_000);
  });

  afterAll(async () => {
    await judge?.release();
    await w?.close();
  });

  it('stores a registration with its derived fields as sent', async () => {
    const reply = await w.sendAndSettle('proplet.register', esp32('esp32-1'), { issuedAt: T0 });
    expect(reply.sequences).toHaveLength(1);
    expect(await getPropletOrThrow(w.db, 'esp32-1')).toEqual({
      id: 'esp32-1',
      type: 'external',
      deviceType: 'esp32-s3',
      capabilities: ['wasm', 'sensor', 'wifi'],
      labels: { 'propeller.io/site': 'plant-a', room: 'Living room' },
      capacity: { memory: '512Ki' },
      maxTasks: 2,
      health: 'unknown',
      observedAt: T0,
      active: true,
      cordoned: false,
      channel: { domainId: 'propeller', channelId: 'ch-esp32-1', layout: 'direct', perPropletTopics: true },
      dialect: 'wamr',
      extensionVersion: 1,
      taskCount: 0,
      runningTaskCount: 0,
      metadata: { os: 'zephyr', namespace: 'embedded', totalMemoryBytes: 524288 },
      owner: null,
      registeredAt: T0,
      updatedAt: expect.any(String),
      seq: reply.lastSequence,
    });
  });

  it("keeps an operator's proplet.label across a re-registration", async () => {
    await w.sendAndSettle('proplet.register', esp32('esp32-2'), { issuedAt: T0 });
    await w.sendAndSettle('proplet.label', { propletId: 'esp32-2', labels: { zone: 'north', room: 'Kitchen' }, deviceType: 'esp32-c3', capacity: { memory: '1Mi' } });
    // The device comes back with other labels, another device type and fewer capabilities.
    const again = await w.sendAndSettle(
      'proplet.register',
      esp32('esp32-2', { deviceType: 'esp32', labels: { 'propeller.io/site': 'plant-b', room: 'Hall' }, capabilities: ['wasm'] }),
      { issuedAt: T1 },
    );
    expect(again.sequences).toHaveLength(1);
    expect(await getPropletOrThrow(w.db, 'esp32-2')).toMatchObject({
      deviceType: 'esp32-c3',
      labels: { 'propeller.io/site': 'plant-b', room: 'Kitchen', zone: 'north' },
      capacity: { memory: '1Mi' },
      capabilities: ['wasm'],
      registeredAt: T0,
    });
  });

  it('refuses the heartbeat registration of a deregistered proplet and keeps its row gone; its create brings it back', async () => {
    await w.sendAndSettle('proplet.register', esp32('esp32-3'), { issuedAt: T0 });
    await w.sendAndSettle('proplet.label', { propletId: 'esp32-3', labels: { zone: 'south' } });
    await w.sendAndSettle('proplet.cordon', { propletId: 'esp32-3', reason: 'maintenance' });
    await w.sendAndSettle('proplet.deregister', { propletId: 'esp32-3', reason: 'deleted by operator' });
    expect(await getProplet(w.db, 'esp32-3')).toBeUndefined();

    await expect(w.send('proplet.register', { ...esp32('esp32-3'), origin: 'heartbeat' })).rejects.toMatchObject({ code: 'NotFound', message: expect.stringMatching(/deregistered/) });
    // A later command on another proplet has a higher sequence: once it is applied, a revival would have been too.
    await w.sendAndSettle('proplet.register', esp32('esp32-3-witness'));
    expect(await getProplet(w.db, 'esp32-3')).toBeUndefined();
    expect((await listProplets(w.db, { label: 'zone=south' })).total).toBe(0);

    const back = await w.sendAndSettle('proplet.register', { ...esp32('esp32-3'), origin: 'create' }, { issuedAt: T2 });
    expect(back.sequences).toHaveLength(1);
    expect(await getPropletOrThrow(w.db, 'esp32-3')).toMatchObject({
      health: 'unknown',
      cordoned: false,
      labels: { 'propeller.io/site': 'plant-a', room: 'Living room' },
      registeredAt: T2,
    });
  });

  it('applies a device-reported update, still under the operator overrides', async () => {
    await w.sendAndSettle('proplet.register', esp32('esp32-6'));
    await w.sendAndSettle('proplet.label', { propletId: 'esp32-6', capacity: { memory: '2Mi' } });
    const update = await w.sendAndSettle('proplet.update', { propletId: 'esp32-6', capacity: { memory: '1Mi', cpu: '1' }, maxTasks: 4, capabilities: ['wasm'] });
    expect(update.sequences).toHaveLength(1);
    expect(await getPropletOrThrow(w.db, 'esp32-6')).toMatchObject({ capacity: { memory: '2Mi' }, maxTasks: 4, capabilities: ['wasm'] });
    // Clearing the override returns to what the device reported.
    await w.sendAndSettle('proplet.label', { propletId: 'esp32-6', capacity: null });
    expect(await getPropletOrThrow(w.db, 'esp32-6')).toMatchObject({ capacity: { memory: '1Mi', cpu: '1' } });
  });

  it('cordons and uncordons, each once', async () => {
    await w.sendAndSettle('proplet.register', esp32('esp32-4'));
    const cordon = await w.sendAndSettle('proplet.cordon', { propletId: 'esp32-4' });
    expect(cordon.sequences).toHaveLength(1);
    expect(await getPropletOrThrow(w.db, 'esp32-4')).toMatchObject({ cordoned: true, active: true });
    expect((await w.send('proplet.cordon', { propletId: 'esp32-4' })).sequences).toEqual([]);
    await w.sendAndSettle('proplet.uncordon', { propletId: 'esp32-4' });
    expect(await getPropletOrThrow(w.db, 'esp32-4')).toMatchObject({ cordoned: false });
  });

  it('changes health with the judge’s current fencing token and refuses a stale one as NotLeader', async () => {
    await w.sendAndSettle('proplet.register', esp32('esp32-5'), { issuedAt: T0 });
    const evidence = { source: 'heartbeat' as const, lastSeenAt: T1 };
    await w.sendAndSettle('proplet.changeHealth', { propletId: 'esp32-5', to: 'healthy', reason: 'heartbeat', evidence }, { fencingToken: token, issuedAt: T1 });
    expect(await getPropletOrThrow(w.db, 'esp32-5')).toMatchObject({ health: 'healthy', observedAt: T1, active: true });

    // The judge dies; another replica takes the lease with a newer token.
    await judge.release();
    const next = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'judge-2' })).start();
    try {
      const newToken = await next.waitUntilHeld(5_000);
      expect(newToken).toBeGreaterThan(token);
      const silence = { source: 'silence' as const, ageMs: 300_000 };
      await expect(
        w.send('proplet.changeHealth', { propletId: 'esp32-5', to: 'offline', reason: 'silent', evidence: silence }, { fencingToken: token }),
      ).rejects.toMatchObject({ code: 'NotLeader' });
      await expect(w.send('proplet.changeHealth', { propletId: 'esp32-5', to: 'offline', reason: 'silent', evidence: silence })).rejects.toMatchObject({
        code: 'Invalid',
        message: expect.stringMatching(/fencingToken/),
      });
      await w.sendAndSettle('proplet.changeHealth', { propletId: 'esp32-5', to: 'offline', reason: 'silent', evidence: silence }, { fencingToken: newToken, issuedAt: T2 });
      expect(await getPropletOrThrow(w.db, 'esp32-5')).toMatchObject({ health: 'offline', observedAt: T2, active: false });
      const events = await new EventStore(w.nc, w.names).load('proplet', 'esp32-5');
      expect(events.events.map((e) => e.type)).toEqual(['PropletRegistered', 'PropletHealthChanged', 'PropletHealthChanged']);
      expect(events.events.map((e) => (e.data as { fencingToken?: number }).fencingToken)).toEqual([undefined, token, newToken]);
    } finally {
      await next.release();
    }
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'judge-1' })).start();
    token = await judge.waitUntilHeld(5_000);
  });

  it('answers Invalid naming the field for a malformed command, and NotFound for an unknown proplet', async () => {
    await expect(w.send('proplet.register', { ...esp32('bad'), channel: { domainId: 'propeller', channelId: 'a/b', layout: 'direct', perPropletTopics: false } })).rejects.toMatchObject({
      code: 'Invalid',
      message: expect.stringMatching(/data\.channel\.channelId/),
    });
    await expect(w.send('proplet.cordon', { propletId: 'never-registered' })).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('lists what the commands made, with filters, status and pagination', async () => {
    const ids = ['flt-a', 'flt-b', 'flt-c', 'flt-d'];
    await w.sendAndSettle('proplet.register', esp32('flt-a', { labels: { fleet: 'f1' } }));
    await w.sendAndSettle('proplet.register', esp32('flt-b', { labels: { fleet: 'f1' }, capabilities: ['wasm', 'gpu'], deviceType: 'rpi', dialect: 'wasmtime' }));
    await w.sendAndSettle('proplet.register', esp32('flt-c', { labels: { fleet: 'f1' }, type: 'k8s', deviceType: 'k8s-pod', dialect: 'wasmtime' }));
    await w.sendAndSettle('proplet.register', esp32('flt-d', { labels: { fleet: 'f1' } }));
    const evidence = { source: 'lastWill' as const };
    await w.sendAndSettle('proplet.changeHealth', { propletId: 'flt-d', to: 'offline', reason: 'last will', evidence }, { fencingToken: token });
    await w.sendAndSettle('proplet.changeHealth', { propletId: 'flt-a', to: 'healthy', reason: 'heartbeat', evidence: { source: 'heartbeat' } }, { fencingToken: token });

    const list = async (q: Parameters<typeof listProplets>[1]) => {
      const page = await listProplets(w.db, { label: 'fleet=f1', ...q });
      return { ids: page.proplets.map((p) => p.id), total: page.total };
    };
    expect(await list({})).toEqual({ ids, total: 4 });
    expect(await list({ type: 'k8s' })).toEqual({ ids: ['flt-c'], total: 1 });
    expect(await list({ health: 'healthy' })).toEqual({ ids: ['flt-a'], total: 1 });
    expect(await list({ deviceType: 'rpi' })).toEqual({ ids: ['flt-b'], total: 1 });
    expect(await list({ capability: 'gpu' })).toEqual({ ids: ['flt-b'], total: 1 });
    expect(await list({ status: 'inactive' })).toEqual({ ids: ['flt-d'], total: 1 });
    expect(await list({ status: 'active' })).toEqual({ ids: ['flt-a', 'flt-b', 'flt-c'], total: 3 });
    expect(await list({ offset: 1, limit: 2 })).toEqual({ ids: ['flt-b', 'flt-c'], total: 4 });
  });
});
