import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { livenessKey } from '@propeller/events';
import { waitFor } from '@propeller/eventstore/testing';
import { buildAlive, topicsFor, type ChannelRef, type Layout } from '@propeller/mqtt-protocol';
import { createShapeSamples, type CreateShapeSample } from '@propeller/mqtt-protocol/testing';
import { getCheckpoint } from '@propeller/projections';
// The real gateway, in-process on this file's prefix and MQTT domain; an app importing an app is allowed in test wiring only.
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { ensureInbox, startGateway, type RunningGateway } from '@propeller/mqtt-gateway';
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { cleanupInbox, connectDevice, memoryLogger, testDomainId, testGatewayConfig, testMetrics } from '@propeller/mqtt-gateway/testing';
// The real health monitor, so heartbeats and last-wills show as `health` too.
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { startHealthMonitor, type RunningHealthMonitor } from '@propeller/health-monitor';
import type { MqttClient } from 'mqtt';
import { PROPLETS_PROJECTION } from './app';
import { openApiWorld, type ApiWorld } from './testing';

// Issue 3's "Must show", end to end with no test double: devices are plain MQTT clients on the real
// Mosquitto; the real mqtt-gateway, registry (with its projection into Postgres) and REST API run in-process
// on this file's own MQTT domain, NATS prefix and Postgres schema, with the health monitor judging the
// liveness the gateway writes; every check reads GET /proplets/{id}.

type Json = Record<string, unknown>;

const LAYOUTS: Layout[] = ['direct', 'messages'];
const CHANNELS = ['ch-a', 'ch-b'];

describe('devices over MQTT, read back through the REST API', () => {
  const domainId = testDomainId();
  const places = LAYOUTS.flatMap((layout) => CHANNELS.map((channelId): ChannelRef => ({ domainId, channelId, layout })));
  let w: ApiWorld;
  let gateway: RunningGateway;
  let monitor: RunningHealthMonitor;
  let device: MqttClient;
  let liveness: KV;

  const publish = (topic: string, payload: object, qos: 0 | 1 = 1): Promise<unknown> => device.publishAsync(topic, JSON.stringify(payload), { qos });
  const get = async (id: string): Promise<{ status: number; body: Json }> => {
    const res = await w.http('GET', `/proplets/${encodeURIComponent(id)}`);
    return { status: res.status, body: res.body as Json };
  };
  const waitVisible = (id: string, what = `GET /proplets/${id} to answer 200`): Promise<void> => waitFor(async () => (await get(id)).status === 200, what, 15_000);
  const livenessAt = async (id: string): Promise<number> => {
    const e = await liveness.get(livenessKey(id));
    return e !== null && e.length > 0 ? Date.parse(e.json<{ at: string }>().at) : 0;
  };
  /** Everything the gateway has read is handled and the proplets projection has applied the whole stream. */
  async function settled(): Promise<void> {
    await gateway.idle();
    const last = (await (await jetstreamManager(w.nc)).streams.info(w.names.stream)).state.last_seq;
    await waitFor(async () => ((await getCheckpoint(w.db, PROPLETS_PROJECTION))?.seq ?? 0) >= last, 'the proplets projection to apply the whole stream', 10_000);
  }

  beforeAll(async () => {
    // Under CI load the projection can take longer than the default 2 s: these tests are about what a write
    // does, not how fast the read model shows it (the 202 path has its own test in proplets.int.spec.ts).
    w = await openApiWorld({ config: { api: { readYourWritesTimeout: 10_000 } } });
    await ensureInbox(w.nc, w.names);
    liveness = await new Kvm(w.nc).open(w.names.kv.liveness);
    gateway = await startGateway({ config: testGatewayConfig(w.names, domainId, { replica: 'gw-e2e' }), nc: w.nc, names: w.names, metrics: testMetrics(), logger: memoryLogger() });
    await waitFor(() => gateway.mqttConnected(), 'the gateway connected to Mosquitto', 10_000);
    // Thresholds far beyond this file's run: every health change below comes from a heartbeat or a last-will.
    monitor = await startHealthMonitor({
      nc: w.nc,
      names: w.names,
      checkIntervalMs: 1_000,
      thresholds: { offlineMs: 5 * 60_000, failureMs: 15 * 60_000 },
      breaker: { share: 0.55, windowMs: 60_000 },
      autoEvacuateTasks: false,
      metrics: testMetrics(),
      holder: 'devices-e2e',
    });
    await monitor.ready;
    await waitFor(() => monitor.isJudging(), 'the health monitor to judge', 10_000);
    device = await connectDevice(`dev-${domainId}`);
  }, 30_000);

  afterAll(async () => {
    await device?.endAsync().catch(() => undefined);
    await monitor?.stop().catch(() => undefined);
    await gateway?.stop().catch(() => undefined);
    if (w) await cleanupInbox(w.nc, w.names).catch(() => undefined);
    await w?.close();
  });

  it('turns every create shape, on both layouts and two channels, into the right proplet in GET /proplets/{id}', async () => {
    const sent: Array<{ id: string; sample: CreateShapeSample; place: ChannelRef }> = [];
    for (const place of places) {
      for (const sample of createShapeSamples(`${place.layout}-${place.channelId}`)) {
        sent.push({ id: String(sample.payload['proplet_id']), sample, place });
        await publish(topicsFor(place).create, sample.payload);
      }
    }
    expect(new Set(sent.map((s) => s.id)).size).toBe(places.length * createShapeSamples().length);
    await waitFor(async () => (await Promise.all(sent.map(async (s) => (await get(s.id)).status))).every((st) => st === 200), 'every create visible in the API', 20_000);

    for (const { id, sample, place } of sent) {
      const { body } = await get(id);
      const hasExtension = sample.payload['propeller'] !== undefined;
      expect({ id, body }).toMatchObject({
        id,
        body: {
          id,
          type: 'external',
          health: 'unknown',
          device_type: sample.expected.deviceType,
          dialect: sample.expected.dialect,
          channel: { domain_id: domainId, channel_id: place.channelId, layout: place.layout, per_proplet_topics: sample.expected.channel.perPropletTopics },
          // A create is not liveness: the plane has not heard a heartbeat yet.
          last_seen_at: null,
          last_seen_source: null,
          cordoned: false,
        },
      });
      // Exact, not a subset: nothing is derived that the rules do not say.
      expect({ id, capabilities: body['capabilities'], labels: body['labels'] }).toEqual({ id, capabilities: sample.expected.capabilities, labels: sample.expected.labels });
      expect({ id, extension_version: body['extension_version'] }).toEqual({ id, extension_version: hasExtension ? 1 : null });
    }

    // Upstream metadata comes back snake_case; `location` became the site label; the extension's capacity travels.
    const full = (await get(`messages-ch-b-upstream-full`)).body;
    expect(full).toMatchObject({
      labels: { 'propeller.io/site': 'paris-1', zone: 'b' },
      metadata: { namespace: 'default', os: 'linux', hostname: 'edge-7', cpu_arch: 'x86_64', wasm_runtime: 'wasmtime-internal', total_memory_bytes: 2 ** 31 },
      capacity: { memory: expect.any(String) },
    });
    expect((await get('direct-ch-a-upstream-esp32')).body).toMatchObject({ device_type: 'esp32', dialect: 'wamr', metadata: { namespace: 'embedded', os: 'zephyr' } });
    expect((await get('direct-ch-a-ext')).body).toMatchObject({ capacity: { cpu: '4', memory: '4Gi' }, max_tasks: 2, labels: { team: 'edge' } });
    expect((await get('messages-ch-a-upstream-empty')).body).toMatchObject({ device_type: 'linux', capabilities: ['wasm'], dialect: 'wasmtime', metadata: { namespace: 'default' } });
    // Every one of them is listed under its layout and channel; the domain is this file's own.
    const list = await w.http('GET', '/proplets?limit=1000');
    expect(list.body.total).toBe(sent.length);
  }, 30_000);

  it("shows a known proplet's heartbeat as last_seen (source heartbeat) and health healthy, and registers an unknown proplet that beats, on both layouts and two channels", async () => {
    const before = Date.now();
    for (const place of places) {
      const known = buildAlive(place, { propletId: `${place.layout}-${place.channelId}-hybrid`, load: { runningTasks: 0, cpuPercent: 3 } });
      await publish(known.topic, JSON.parse(known.payload.toString()) as object, 0);
      const stranger = buildAlive(place, { propletId: `stranger-${place.layout}-${place.channelId}`, namespace: 'embedded' });
      await publish(stranger.topic, JSON.parse(stranger.payload.toString()) as object, 1);
    }
    for (const place of places) {
      const known = `${place.layout}-${place.channelId}-hybrid`;
      await waitFor(async () => Date.parse(String((await get(known)).body['last_seen_at'])) >= before - 1_000, `last_seen of ${known}`, 10_000);
      // The heartbeat changed what the plane heard, not what the device is; the monitor judges it healthy.
      expect((await get(known)).body).toMatchObject({ last_seen_source: 'heartbeat', device_type: 'esp32', capabilities: ['wasm', 'sensor', 'wifi'], dialect: 'wamr' });
      await waitFor(async () => (await get(known)).body['health'] === 'healthy', `${known} to be healthy`, 20_000);
      expect((await get(known)).body).toMatchObject({ health: 'healthy', alive: true, active: true });

      const stranger = `stranger-${place.layout}-${place.channelId}`;
      await waitVisible(stranger, `a heartbeat to register ${stranger}`);
      await waitFor(async () => (await get(stranger)).body['last_seen_source'] === 'heartbeat', `last_seen of ${stranger}`, 10_000);
      expect((await get(stranger)).body).toMatchObject({
        id: stranger,
        type: 'external',
        device_type: 'linux',
        capabilities: ['wasm'],
        labels: {},
        dialect: 'wasmtime',
        channel: { domain_id: domainId, channel_id: place.channelId, layout: place.layout, per_proplet_topics: false },
        metadata: { namespace: 'embedded' },
        last_seen_source: 'heartbeat',
      });
      await waitFor(async () => (await get(stranger)).body['health'] === 'healthy', `${stranger} to be healthy`, 20_000);
    }
  }, 60_000);

  it("shows a known proplet's last-will as last_seen (source last_will) and health offline, and registers nothing for the last-will of an unknown id, on both layouts and two channels", async () => {
    const wills: Array<{ known: string; ghost: string }> = [];
    const clients: MqttClient[] = [];
    for (const place of places) {
      const known = `${place.layout}-${place.channelId}-legacy`;
      const ghost = `ghost-${place.layout}-${place.channelId}`;
      wills.push({ known, ghost });
      const knownWill = buildAlive(place, { propletId: known, status: 'offline' });
      const ghostWill = buildAlive(place, { propletId: ghost, status: 'offline' });
      // Real last-wills: the broker publishes them when the connections drop without DISCONNECT.
      clients.push(await connectDevice(`will-${known}-${domainId}`, { will: { topic: knownWill.topic, payload: knownWill.payload.toString() } }));
      clients.push(await connectDevice(`will-${ghost}-${domainId}`, { will: { topic: ghostWill.topic, payload: ghostWill.payload.toString() } }));
    }
    for (const c of clients) c.stream.destroy();
    for (const { known } of wills) {
      await waitFor(async () => (await get(known)).body['last_seen_source'] === 'last_will', `the last-will of ${known} as last_seen`, 10_000);
      await waitFor(async () => (await get(known)).body['health'] === 'offline', `${known} offline at once after its last-will`, 10_000);
      expect((await get(known)).body).toMatchObject({ health: 'offline', alive: false, active: false, device_type: 'linux', dialect: 'wasmtime', last_seen_at: expect.any(String) });
    }
    await settled();
    for (const { ghost } of wills) {
      expect({ ghost, status: (await get(ghost)).status }).toEqual({ ghost, status: 404 });
      expect(await livenessAt(ghost)).toBe(0);
    }
    for (const c of clients) c.end(true);
  }, 30_000);

  it("keeps an operator's PATCH across a re-registration sent over MQTT, while the device's other changes apply", async () => {
    const place = places[3] as ChannelRef;
    const sample = createShapeSamples(`${place.layout}-${place.channelId}`).find((s) => s.name === 'upstream-full') as CreateShapeSample;
    const id = String(sample.payload['proplet_id']);
    const patched = await w.http('PATCH', `/proplets/${id}`, { labels: { zone: 'ops', owner: 'team-a' }, device_type: 'rpi5', capabilities: ['wasm', 'gpu', 'camera'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ device_type: 'rpi5', labels: { zone: 'ops', owner: 'team-a', 'propeller.io/site': 'paris-1' } });

    // The device restarts and registers again: a new hostname, and a zone tag that the override must beat.
    const metadata = { ...(sample.payload['metadata'] as Json), hostname: 'edge-7b', tags: ['gpu', 'zone=c'], location: 'paris-2' };
    await publish(topicsFor(place).create, { ...sample.payload, metadata });
    await waitFor(async () => ((await get(id)).body['metadata'] as Json)['hostname'] === 'edge-7b', 'the re-registration applied', 10_000);
    const { body } = await get(id);
    expect(body).toMatchObject({ device_type: 'rpi5', capabilities: ['wasm', 'gpu', 'camera'] });
    // Overrides merged over what the device reports now: its site moved, its zone did not.
    expect(body['labels']).toEqual({ zone: 'ops', owner: 'team-a', 'propeller.io/site': 'paris-2' });
  }, 30_000);

  it("does not bring a deleted proplet back on its heartbeats, and does on its create", async () => {
    const place = places[1] as ChannelRef;
    const sample = createShapeSamples(`${place.layout}-${place.channelId}`).find((s) => s.name === 'hybrid') as CreateShapeSample;
    const id = String(sample.payload['proplet_id']);
    expect((await get(id)).status).toBe(200);
    const deleted = await w.http('DELETE', `/proplets/${id}`);
    expect(deleted.status).toBe(204);
    expect((await get(id)).status).toBe(404);

    // Heartbeats after the delete: the gateway writes their liveness (so we know it handled them) and registers nothing.
    const deletedAt = Date.now();
    const alive = buildAlive(place, { propletId: id });
    for (let i = 0; i < 3; i++) await publish(alive.topic, JSON.parse(alive.payload.toString()) as object, 1);
    await waitFor(async () => (await livenessAt(id)) >= deletedAt - 1_000, 'the gateway to handle the heartbeats of the deleted proplet', 10_000);
    await settled();
    expect((await get(id)).status).toBe(404);
    const listed = await w.http('GET', `/proplets?limit=1000`);
    expect((listed.body.proplets as Array<{ id: string }>).map((p) => p.id)).not.toContain(id);

    // Its create brings it back, as the device describes itself.
    await publish(topicsFor(place).create, sample.payload);
    await waitVisible(id, `create to bring ${id} back`);
    expect((await get(id)).body).toMatchObject({
      id,
      device_type: 'esp32',
      capabilities: ['wasm', 'sensor', 'wifi'],
      dialect: 'wamr',
      channel: { channel_id: place.channelId, layout: place.layout },
    });
  }, 30_000);
});
