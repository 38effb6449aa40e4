import { resolve } from 'node:path';
import { KvWatchInclude, Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeKvToken, PROPLET_LIVENESS_FILTER, type NatsNames } from '@propeller/events';
import { provision } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { buildAlive, buildCreate, type ChannelRef } from '@propeller/mqtt-protocol';
import { spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
import type { MqttClient } from 'mqtt';
import { gatewayStatusTopic } from './mqtt-link';
import { ensureInbox } from './nats';
import { cleanupInbox, connectDevice, startRegistryDouble, testDomainId, TEST_BROKER, type RegistryDouble } from './testing';

const MAIN = resolve(__dirname, 'main.ts');
const DEVICES = 100;
const CREATES_PER_DEVICE = 10;
const BEAT_MS = 1_000;

let nc: NatsConnection;
let names: NatsNames;
let registry: RegistryDouble;
let liveness: KV;
const gateways = new Map<string, { proc: SpawnedService; base: string }>();
const devices: MqttClient[] = [];
const domainId = testDomainId();
const places: ChannelRef[] = [
  { domainId, channelId: 'north', layout: 'direct' },
  { domainId, channelId: 'south', layout: 'messages' },
];
const idOf = (i: number): string => `dev-${i}`;
const placeOf = (i: number): ChannelRef => places[i % 2] as ChannelRef;

function spawnGateway(replica: string): SpawnedService {
  // `node --import tsx main.ts`, one process: SIGKILL then kills the gateway itself (tsx's CLI would leave its child running).
  return spawnNode('--import', {
    args: ['tsx', MAIN],
    cwd: resolve(__dirname, '../../..'),
    env: {
      NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
      PROPELLER_NATS_PREFIX: names.prefix,
      MQTT_BROKER: TEST_BROKER,
      PROPELLER_DOMAIN_ID: domainId,
      GATEWAY_REPLICA: replica,
      GATEWAY_SHARE_GROUP: `g-${domainId}`,
      GATEWAY_LIVENESS_REFRESH: '1s',
      // The test's sessions must not linger on the shared broker for the default week.
      GATEWAY_SESSION_EXPIRY: '2m',
      PROPELLER_MQTT_CLIENT_ID: `gw-${domainId}-${replica}`,
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    },
  });
}

/** The value of one series of a gateway's /metrics. */
async function scrape(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

beforeAll(async () => {
  names = testNames();
  nc = await connectTest('gateway-replicas');
  // Provisioned once here so that the two replicas do not race to create the same streams.
  await provision(nc, names);
  await ensureInbox(nc, names);
  liveness = await new Kvm(nc).open(names.kv.liveness);
  registry = startRegistryDouble(nc, names);
  for (const replica of ['a', 'b']) {
    const proc = spawnGateway(replica);
    gateways.set(replica, { proc, base: '' });
  }
  for (const [replica, g] of gateways) gateways.set(replica, { ...g, base: await waitUntilServing(g.proc, 25_000) });
  for (let i = 0; i < DEVICES; i++) devices.push(await connectDevice(`${domainId}-${idOf(i)}`));
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.endAsync(true)));
  await Promise.all([...gateways.values()].map((g) => g.proc.stop()));
  await registry?.stop();
  await cleanupInbox(nc, names);
  await cleanup(nc, names);
  await nc.close();
});

describe('two gateway processes sharing the subscriptions', () => {
  it('turn 1,000 creates and alives from 100 devices into exactly one register command per create, none lost', async () => {
    const sends: Array<Promise<unknown>> = [];
    for (let round = 0; round < CREATES_PER_DEVICE; round++) {
      for (let i = 0; i < DEVICES; i++) {
        const device = devices[i] as MqttClient;
        const create = buildCreate(placeOf(i), { propletId: idOf(i), deviceType: 'rpi', capabilities: ['wasm', `round-${round}`] });
        const alive = buildAlive(placeOf(i), { propletId: idOf(i) });
        sends.push(device.publishAsync(create.topic, create.payload, { qos: 1 }));
        sends.push(device.publishAsync(alive.topic, alive.payload, { qos: 1 }));
      }
    }
    await Promise.all(sends);
    const creates = () => registry.requests.filter((r) => r.origin === 'create');
    await waitFor(() => creates().length >= DEVICES * CREATES_PER_DEVICE, '1,000 register commands', 20_000);
    // Both replicas took a share of the creates, and together they handled exactly what was sent.
    const handled = await Promise.all([...gateways.values()].map((g) => scrape(g.base, 'propeller_gateway_messages_total{kind="create"')));
    expect(handled.every((n) => n > 0)).toBe(true);
    expect(handled.reduce((a, b) => a + b, 0)).toBe(DEVICES * CREATES_PER_DEVICE);
    expect(creates()).toHaveLength(DEVICES * CREATES_PER_DEVICE);
    for (let i = 0; i < DEVICES; i++) {
      const mine = creates().filter((r) => r.propletId === idOf(i));
      // Each of the device's creates once: its rounds are all there, none twice.
      expect(mine.map((r) => r.capabilities[1]).sort()).toEqual(Array.from({ length: CREATES_PER_DEVICE }, (_, k) => `round-${k}`).sort());
    }
    expect(registry.registered.size).toBe(DEVICES);
    // /health reports both connections.
    for (const g of gateways.values()) {
      const health = (await (await fetch(`${g.base}/health`)).json()) as { status: string; checks: Record<string, { status: string }> };
      expect(health).toMatchObject({ status: 'pass', checks: { mqtt: { status: 'pass' }, nats: { status: 'pass' } } });
    }
  }, 40_000);

  it('a replica stopped while another runs leaves the share group: every create sent after reaches the survivor', async () => {
    const b = gateways.get('b');
    expect((await b?.proc.stop('SIGTERM'))?.code).toBe(0);
    const before = registry.requests.filter((r) => r.origin === 'create').length;
    for (let i = 0; i < DEVICES; i++) {
      const create = buildCreate(placeOf(i), { propletId: idOf(i), deviceType: 'rpi', capabilities: ['wasm', 'after-stop'] });
      await (devices[i] as MqttClient).publishAsync(create.topic, create.payload, { qos: 1 });
    }
    // Had b kept its persistent session in the group, about half of these would wait for b on the broker.
    await waitFor(() => registry.requests.filter((r) => r.origin === 'create').length === before + DEVICES, 'every create handled by a', 15_000);
    // b comes back under the same replica id (same persistent session) for the next test.
    const proc = spawnGateway('b');
    gateways.set('b', { proc, base: await waitUntilServing(proc, 25_000) });
  }, 40_000);

  it('lose no device for more than one beat when one gateway is killed', async () => {
    // Every replica knows every proplet (from the events), whichever replica handled its create: beats register nothing.
    const heartbeatRegistrations = () => registry.requests.filter((r) => r.origin === 'heartbeat').length;
    const registrationsBefore = heartbeatRegistrations();
    const seen = new Map<string, number[]>();
    const watch = await liveness.watch({ key: PROPLET_LIVENESS_FILTER, include: KvWatchInclude.UpdatesOnly });
    const watching = (async () => {
      for await (const e of watch) {
        const id = decodeKvToken(e.key.slice('proplet.'.length));
        const times = seen.get(id) ?? [];
        times.push(Date.now());
        seen.set(id, times);
      }
    })();
    const beat = () => {
      for (let i = 0; i < DEVICES; i++) {
        const m = buildAlive(placeOf(i), { propletId: idOf(i) });
        (devices[i] as MqttClient).publish(m.topic, m.payload, { qos: 1 });
      }
    };
    const timer = setInterval(beat, BEAT_MS);
    try {
      await waitFor(() => seen.size === DEVICES, 'every device beating', 10_000).catch((e: unknown) => {
        throw new Error(`${String(e)}; seen ${seen.size}`);
      });
      // The broker says so when a replica dies: its last-will on its status topic.
      const watcher = devices[0] as MqttClient;
      const wills: string[] = [];
      watcher.on('message', (topic, payload) => {
        if (topic === gatewayStatusTopic(domainId, 'b')) wills.push(payload.toString());
      });
      await watcher.subscribeAsync(gatewayStatusTopic(domainId, 'b'), { qos: 1 });
      const killedAt = Date.now();
      const b = gateways.get('b');
      await b?.proc.stop('SIGKILL');
      gateways.delete('b');
      await waitFor(() => wills.length > 0, 'the killed replica last-will');
      expect(JSON.parse(wills[0] as string)).toEqual({ replica: 'b', connected: false });
      await new Promise((r) => setTimeout(r, 5 * BEAT_MS));
      const end = Date.now();
      for (let i = 0; i < DEVICES; i++) {
        const times = (seen.get(idOf(i)) ?? []).filter((t) => t >= killedAt - BEAT_MS);
        // The longest silence around the kill, including the stretch up to now.
        const gaps = [...times.slice(1).map((t, k) => t - (times[k] as number)), end - (times[times.length - 1] ?? 0)];
        expect({ device: idOf(i), longestSilenceUnderTwoBeats: Math.max(...gaps) < 2 * BEAT_MS }).toEqual({ device: idOf(i), longestSilenceUnderTwoBeats: true });
      }
      expect(heartbeatRegistrations()).toBe(registrationsBefore);
    } finally {
      clearInterval(timer);
      watch.stop();
      void watching;
    }
  }, 40_000);
});
