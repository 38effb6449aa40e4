import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { livenessKey, type NatsNames } from '@propeller/events';
import { provision } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { buildAlive, buildCreate, topicsFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { malformedSamples } from '@propeller/mqtt-protocol/testing';
import type { Metrics } from '@propeller/telemetry';
import type { MqttClient } from 'mqtt';
import { REJECTED_METRIC, startGateway, type RunningGateway } from './gateway';
import { ensureInbox } from './nats';
import { cleanupInbox, connectDevice, counterValue, memoryLogger, startRegistryDouble, testDomainId, testGatewayConfig, testMetrics, type RegistryDouble } from './testing';

let nc: NatsConnection;
let names: NatsNames;
let registry: RegistryDouble;
let gateway: RunningGateway;
let metrics: Metrics;
let device: MqttClient;
let liveness: KV;
let errors: Subscription;
const errorEvents: Array<Record<string, unknown>> = [];
const domainId = testDomainId();
const places: ChannelRef[] = [
  { domainId, channelId: 'ch-1', layout: 'direct' },
  { domainId, channelId: 'ch-2', layout: 'messages' },
];

beforeAll(async () => {
  names = testNames();
  nc = await connectTest('gateway-malformed');
  await provision(nc, names);
  await ensureInbox(nc, names);
  liveness = await new Kvm(nc).open(names.kv.liveness);
  registry = startRegistryDouble(nc, names);
  metrics = testMetrics();
  errors = nc.subscribe(names.errorSubject('gateway'), { callback: (_e, m) => void errorEvents.push(m.json()) });
  gateway = await startGateway({ config: testGatewayConfig(names, domainId), nc, names, metrics, logger: memoryLogger() });
  device = await connectDevice(`dev-${domainId}`);
});

afterAll(async () => {
  errors?.unsubscribe();
  await device?.endAsync();
  await gateway?.stop();
  await registry?.stop();
  await cleanupInbox(nc, names);
  await cleanup(nc, names);
  await nc.close();
});

describe('mqtt-gateway under malformed input', () => {
  it('drops 1,000 malformed messages counted by kind and reason, and applies every valid one in between', async () => {
    const samples = malformedSamples();
    const expected = new Map<string, number>();
    const valid: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      const place = places[i % 2] as ChannelRef;
      const bad = samples[i % samples.length];
      if (bad === undefined) throw new Error('no samples');
      expected.set(`${bad.kind}/${bad.reason}`, (expected.get(`${bad.kind}/${bad.reason}`) ?? 0) + 1);
      await device.publishAsync(topicsFor(place).of(bad.kind), bad.payload, { qos: 1 });
      if (i % 10 === 0) {
        // A valid device joins and beats between the bad ones.
        const id = `ok-${i}`;
        valid.push(id);
        const create = buildCreate(place, { propletId: id, deviceType: 'rpi', capabilities: ['wasm'] });
        await device.publishAsync(create.topic, create.payload, { qos: 1 });
        const alive = buildAlive(place, { propletId: id });
        await device.publishAsync(alive.topic, alive.payload, { qos: 1 });
      }
    }

    const total = async (): Promise<number> => {
      let n = 0;
      for (const key of expected.keys()) {
        const [kind, reason] = key.split('/') as [string, string];
        n += await counterValue(metrics, REJECTED_METRIC, { kind, reason });
      }
      return n;
    };
    await waitFor(async () => (await total()) >= 1_000, 'every malformed message counted', 20_000);
    await waitFor(() => valid.every((id) => registry.requests.some((r) => r.propletId === id && r.origin === 'create')), 'every valid create registered', 10_000);
    for (const id of valid) await waitFor(async () => (await liveness.get(livenessKey(id))) !== null, `liveness of ${id}`);
    await gateway.idle();

    for (const [key, count] of expected) {
      const [kind, reason] = key.split('/') as [string, string];
      expect({ key, counted: await counterValue(metrics, REJECTED_METRIC, { kind, reason }) }).toEqual({ key, counted: count });
    }
    expect(await counterValue(metrics, REJECTED_METRIC, { kind: 'create', reason: 'nats_error' })).toBe(0);
    // Every drop is published as an error event with its topic, reason and a bounded excerpt.
    await waitFor(() => errorEvents.length >= 1_000, 'the error events');
    expect(errorEvents).toHaveLength(1_000);
    const tooLarge = errorEvents.find((e) => e['reason'] === 'too_large');
    expect(tooLarge).toMatchObject({ kind: expect.any(String), topic: expect.stringContaining(`m/${domainId}/c/`), message: expect.stringContaining('over the limit') });
    expect(String(tooLarge?.['payload']).length).toBeLessThanOrEqual(257);
    expect(errorEvents.find((e) => e['reason'] === 'missing_field' && e['kind'] === 'create')).toMatchObject({ field: 'proplet_id' });

    // Still alive: a device that joins now is registered.
    expect(gateway.mqttConnected()).toBe(true);
    const late = buildCreate(places[0] as ChannelRef, { propletId: 'late' });
    await device.publishAsync(late.topic, late.payload, { qos: 1 });
    await waitFor(() => registry.requests.some((r) => r.propletId === 'late'), 'a create after the storm');
  });
});
