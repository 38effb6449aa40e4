import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { gatewayLivenessKey, livenessKey, makeEnvelope, type NatsNames, type PropletDeregistered } from '@propeller/events';
import { encodeEnvelope, envelopeHeaders, provision, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { buildAlive, buildMetrics, buildResults, buildTaskMetrics, buildTaskStarted, topicsFor, type ChannelRef, type Layout } from '@propeller/mqtt-protocol';
import { createShapeSamples } from '@propeller/mqtt-protocol/testing';
import type { Metrics } from '@propeller/telemetry';
import type { MqttClient } from 'mqtt';
import { startGateway, REJECTED_METRIC, type RunningGateway } from './gateway';
import { ensureInbox, metricsKvKey } from './nats';
import {
  cleanupInbox,
  connectDevice,
  counterValue,
  memoryLogger,
  startRegistryDouble,
  testDomainId,
  testGatewayConfig,
  testMetrics,
  type RegistryDouble,
} from './testing';

let nc: NatsConnection;
let names: NatsNames;
let registry: RegistryDouble;
let gateway: RunningGateway;
let metrics: Metrics;
let device: MqttClient;
let liveness: KV;
let metricsKv: KV;
const domainId = testDomainId();
const config = () => testGatewayConfig(names, domainId, { replica: 'gw-a' });

const LAYOUTS: Layout[] = ['direct', 'messages'];
const CHANNELS = ['ch-a', 'ch-b'];
const places = LAYOUTS.flatMap((layout) => CHANNELS.map((channelId): ChannelRef => ({ domainId, channelId, layout })));

const publish = (topic: string, payload: string | object, qos: 0 | 1 = 1): Promise<unknown> =>
  device.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos });

async function livenessOf(id: string): Promise<Record<string, unknown> | null> {
  const e = await liveness.get(livenessKey(id));
  return e && e.length > 0 ? (e.json() as Record<string, unknown>) : null;
}

beforeAll(async () => {
  names = testNames();
  nc = await connectTest('gateway-int');
  await provision(nc, names);
  await ensureInbox(nc, names);
  const kvm = new Kvm(nc);
  liveness = await kvm.open(names.kv.liveness);
  metricsKv = await kvm.open(names.kv.metrics);
  registry = startRegistryDouble(nc, names);
  metrics = testMetrics();
  gateway = await startGateway({ config: config(), nc, names, metrics, logger: memoryLogger(), retryDelays: [10, 20, 30] });
  device = await connectDevice(`dev-${domainId}`);
});

afterAll(async () => {
  await device?.endAsync();
  await gateway?.stop();
  await registry?.stop();
  await cleanupInbox(nc, names);
  await cleanup(nc, names);
  await nc.close();
});

describe('mqtt-gateway on the real Mosquitto and NATS', () => {
  it('turns every create shape, on both layouts and two channels, into proplet.register with the derived data', async () => {
    const expected = new Map<string, { sample: ReturnType<typeof createShapeSamples>[number]; place: ChannelRef }>();
    for (const place of places) {
      for (const sample of createShapeSamples(`${place.layout}-${place.channelId}`)) {
        const id = String(sample.payload['proplet_id']);
        expected.set(id, { sample, place });
        await publish(topicsFor(place).create, sample.payload);
      }
    }
    expect(expected.size).toBe(places.length * createShapeSamples().length);
    // The directory learns a proplet from the reply, a moment after the double has recorded the request.
    await waitFor(() => [...expected.keys()].every((id) => gateway.directory.get(id) !== undefined), 'a register command per create, answered');
    for (const [id, { sample, place }] of expected) {
      const sent = registry.requests.filter((r) => r.propletId === id);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({
        origin: 'create',
        deviceType: sample.expected.deviceType,
        capabilities: sample.expected.capabilities,
        labels: sample.expected.labels,
        dialect: sample.expected.dialect,
        channel: { domainId, channelId: place.channelId, layout: place.layout, perPropletTopics: sample.expected.channel.perPropletTopics },
      });
      expect(gateway.directory.get(id)).toMatchObject({ channelId: place.channelId, layout: place.layout, dialect: sample.expected.dialect, deregistered: false });
    }
    // The extension's capacity and type travel too.
    expect(registry.requests.find((r) => r.propletId === 'messages-ch-b-ext')).toMatchObject({ type: 'external', capacity: { cpu: '4', memory: '4Gi' }, maxTasks: 2, extensionVersion: 1 });
  });

  it('writes alive (with load) of known proplets into the liveness KV and registers nothing more', async () => {
    const before = registry.requests.length;
    for (const place of places) {
      const id = `${place.layout}-${place.channelId}-hybrid`;
      const m = buildAlive(place, { propletId: id, load: { runningTasks: 2, cpuPercent: 12.5, memoryBytes: 1024 } });
      await publish(m.topic, m.payload, m.qos);
    }
    for (const place of places) {
      const id = `${place.layout}-${place.channelId}-hybrid`;
      await waitFor(async () => (await livenessOf(id)) !== null, `liveness of ${id}`);
      expect(await livenessOf(id)).toEqual({
        status: 'alive',
        at: expect.any(String),
        source: 'heartbeat',
        load: { runningTasks: 2, cpuPercent: 12.5, memoryBytes: 1024 },
        writer: 'gw-a',
      });
    }
    await gateway.idle();
    expect(registry.requests.length).toBe(before);
  });

  it('registers an unknown proplet that beats (origin heartbeat), on both layouts and two channels', async () => {
    for (const place of places) {
      const m = buildAlive(place, { propletId: `stranger-${place.layout}-${place.channelId}`, namespace: 'embedded' });
      await publish(m.topic, m.payload, m.qos);
    }
    for (const place of places) {
      const id = `stranger-${place.layout}-${place.channelId}`;
      await waitFor(() => registry.requests.some((r) => r.propletId === id), `heartbeat registration of ${id}`);
      expect(registry.requests.filter((r) => r.propletId === id)).toEqual([
        expect.objectContaining({
          origin: 'heartbeat',
          type: 'external',
          deviceType: 'linux',
          capabilities: ['wasm'],
          labels: {},
          dialect: 'wasmtime',
          channel: { domainId, channelId: place.channelId, layout: place.layout, perPropletTopics: false },
          metadata: expect.objectContaining({ namespace: 'embedded' }),
        }),
      ]);
      await waitFor(async () => (await livenessOf(id))?.['status'] === 'alive', `liveness of ${id}`);
    }
  });

  it("records a known proplet's last-will as offline (source lastWill), and ignores the last-will of an unknown id", async () => {
    const place = places[3] as ChannelRef;
    const known = `${place.layout}-${place.channelId}-legacy`;
    const knownWill = buildAlive(place, { propletId: known, status: 'offline' });
    const stranger = `ghost-${domainId}`;
    const strangerWill = buildAlive(place, { propletId: stranger, status: 'offline' });
    // Real last-wills: the broker publishes them when the device connections drop without DISCONNECT.
    const a = await connectDevice(`will-a-${domainId}`, { will: { topic: knownWill.topic, payload: knownWill.payload } });
    const b = await connectDevice(`will-b-${domainId}`, { will: { topic: strangerWill.topic, payload: strangerWill.payload } });
    b.stream.destroy();
    a.stream.destroy();
    await waitFor(async () => (await livenessOf(known))?.['status'] === 'offline', 'the known last-will in the liveness KV');
    expect(await livenessOf(known)).toMatchObject({ status: 'offline', source: 'lastWill', writer: 'gw-a' });
    await gateway.idle();
    expect(await livenessOf(stranger)).toBeNull();
    expect(registry.requests.some((r) => r.propletId === stranger)).toBe(false);
    a.end(true);
    b.end(true);
  });

  it('keeps metrics (latest in KV, history in the metrics stream) and results/task_started in the inbox stream', async () => {
    const place = places[0] as ChannelRef;
    const id = `${place.layout}-${place.channelId}-hybrid`;
    const at = new Date('2026-11-27T10:00:00Z');
    const m1 = buildMetrics(place, { propletId: id, timestamp: at, cpu: { percent: 40 }, memory: { rssBytes: 2048 } });
    await publish(m1.topic, m1.payload, m1.qos);
    const tm = buildTaskMetrics(place, { wireId: 'task-1', propletId: id, metrics: { cpu_percent: 3 } });
    await publish(tm.topic, tm.payload, tm.qos);
    const started = buildTaskStarted(place, { wireId: 'wire-1', propletId: id, attempt: 1 });
    await publish(started.topic, started.payload, started.qos);
    const result = buildResults(place, { wireId: 'wire-1', propletId: id, results: '42' });
    await publish(result.topic, result.payload, result.qos);
    // The same result again (an MQTT redelivery) is stored once.
    await publish(result.topic, result.payload, result.qos);

    await waitFor(async () => (await metricsKv.get(metricsKvKey('proplet', id))) !== null && (await metricsKv.get(metricsKvKey('task', 'task-1'))) !== null, 'metrics in KV');
    expect((await metricsKv.get(metricsKvKey('proplet', id)))?.json()).toMatchObject({ kind: 'metrics', propletId: id, at: at.toISOString() });
    expect((await metricsKv.get(metricsKvKey('task', 'task-1')))?.json()).toMatchObject({ kind: 'task_metrics', propletId: id, taskId: 'task-1' });
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.streams.info(names.metricsStream)).state.messages >= 2, 'metrics history');
    await waitFor(async () => (await jsm.streams.info(names.inboxStream)).state.messages >= 2, 'inbox entries');
    await gateway.idle();
    expect((await jsm.streams.info(names.inboxStream)).state.messages).toBe(2);
    const js = jetstream(nc);
    const kept = await js.consumers.get(names.inboxStream, { filter_subjects: names.inboxSubject('results', 'wire-1') });
    const msg = await kept.next({ expires: 2_000 });
    expect(msg?.json()).toMatchObject({ kind: 'results', channelId: place.channelId, layout: place.layout, message: { task_id: 'wire-1', proplet_id: id, results: '42' } });
  });

  it('retries a failing registry request, then counts the create as nats_error and goes on', async () => {
    const place = places[1] as ChannelRef;
    const before = await counterValue(metrics, REJECTED_METRIC, { kind: 'create', reason: 'nats_error' });
    registry.failNext(4);
    await publish(topicsFor(place).create, { proplet_id: `unlucky-${domainId}` });
    // Creates of other proplets are handled meanwhile (in order per proplet only): send the next one once this one gave up.
    await waitFor(async () => (await counterValue(metrics, REJECTED_METRIC, { kind: 'create', reason: 'nats_error' })) > before, 'the create counted as nats_error');
    await publish(topicsFor(place).create, { proplet_id: `lucky-${domainId}` });
    await waitFor(() => registry.requests.some((r) => r.propletId === `lucky-${domainId}`), 'the next create');
    expect(await counterValue(metrics, REJECTED_METRIC, { kind: 'create', reason: 'nats_error' })).toBe(before + 1);
    expect(registry.requests.some((r) => r.propletId === `unlucky-${domainId}`)).toBe(false);
  });

  it('keeps its own broker-connection status in the liveness KV', async () => {
    const e = await liveness.get(gatewayLivenessKey('gw-a'));
    expect(e?.json()).toMatchObject({ connected: true, broker: expect.stringContaining('127.0.0.1'), connectedSince: expect.any(String) });
  });
});

describe('mqtt-gateway connection loss', () => {
  it('reconnects after the broker drops both sessions, subscribes again, and reports the outage in its liveness key', async () => {
    const cfg = config();
    const statuses: boolean[] = [];
    const watch = await liveness.watch({ key: gatewayLivenessKey('gw-a') });
    const watching = (async () => {
      for await (const e of watch) if (e.length > 0) statuses.push((e.json() as { connected: boolean }).connected);
    })();
    // A client taking over the client ids makes the broker close the gateway's connections; the clean
    // takeover of the persistent id also wipes its session, subscriptions included.
    const imposters = [await connectDevice(cfg.clientId), await connectDevice(cfg.heartbeatClientId)];
    await waitFor(() => !gateway.mqttConnected(), 'the gateway to see the drop');
    await Promise.all(imposters.map((c) => c.endAsync()));
    await waitFor(() => gateway.mqttConnected(), 'the gateway to reconnect', 15_000);
    await waitFor(() => statuses.includes(false) && statuses[statuses.length - 1] === true, 'connected: false, then true again');
    watch.stop();
    await watching;

    const place = places[2] as ChannelRef;
    await publish(topicsFor(place).create, { proplet_id: `after-reconnect-${domainId}` });
    await waitFor(() => registry.requests.some((r) => r.propletId === `after-reconnect-${domainId}`), 'a create after the reconnect');
    const beat = buildAlive(place, { propletId: `after-reconnect-${domainId}` });
    await publish(beat.topic, beat.payload, beat.qos);
    await waitFor(async () => (await livenessOf(`after-reconnect-${domainId}`)) !== null, 'a heartbeat after the reconnect');
  });
});

describe('mqtt-gateway directory', () => {
  it('learns proplets registered elsewhere from the events, and a deregistered one beats without registering again', async () => {
    const place = places[0] as ChannelRef;
    const id = `elsewhere-${domainId}`;
    // Registered through another path (another replica, an operator): the gateway only sees the event.
    const data = { propletId: id, origin: 'operator', type: 'external', deviceType: 'esp32', capabilities: ['wasm'], dialect: 'wamr', channel: { domainId, channelId: 'far', layout: 'messages', perPropletTopics: true }, metadata: { tags: [] } };
    await sendCommand(nc, names, 'proplet', 'register', { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data });
    await waitFor(() => gateway.directory.get(id) !== undefined, 'the directory to follow PropletRegistered');
    expect(gateway.directory.get(id)).toEqual({ propletId: id, domainId, channelId: 'far', layout: 'messages', perPropletTopics: true, dialect: 'wamr', deregistered: false, seq: expect.any(Number) });

    const event: PropletDeregistered = { type: 'PropletDeregistered', data: { reason: 'operator', deregisteredAt: new Date().toISOString() } };
    const env = makeEnvelope({ event, aggregateId: id, meta: { correlationId: randomUUID() }, id: randomUUID(), occurredAt: new Date() });
    await jetstream(nc).publish(names.eventSubject('proplet', id), encodeEnvelope(env), { headers: envelopeHeaders(env), msgID: env.id });
    await waitFor(() => gateway.directory.status(id) === 'deregistered', 'the directory to follow PropletDeregistered');

    const requestsBefore = registry.requests.filter((r) => r.propletId === id).length;
    const beat = buildAlive(place, { propletId: id });
    await publish(beat.topic, beat.payload, beat.qos);
    await waitFor(async () => (await livenessOf(id)) !== null, 'the heartbeat in the liveness KV');
    await gateway.idle();
    expect(registry.requests.filter((r) => r.propletId === id)).toHaveLength(requestsBefore);
  });
});
