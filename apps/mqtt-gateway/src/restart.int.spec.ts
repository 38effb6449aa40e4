import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { gatewayLivenessKey, livenessKey, type NatsNames } from '@propeller/events';
import { provision } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { buildAlive, buildResults, type ChannelRef } from '@propeller/mqtt-protocol';
import type { MqttClient } from 'mqtt';
import { startGateway, type RunningGateway } from './gateway';
import { ensureInbox } from './nats';
import { cleanupInbox, connectDevice, memoryLogger, startRegistryDouble, testDomainId, testGatewayConfig, testMetrics, type RegistryDouble } from './testing';

let nc: NatsConnection;
let names: NatsNames;
let registry: RegistryDouble;
let device: MqttClient;
let gateway: RunningGateway | undefined;
const domainId = testDomainId();
const place: ChannelRef = { domainId, channelId: 'ch', layout: 'direct' };

beforeAll(async () => {
  names = testNames();
  nc = await connectTest('gateway-restart');
  await provision(nc, names);
  await ensureInbox(nc, names);
  registry = startRegistryDouble(nc, names);
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

describe.each([5, 4] as const)('mqtt-gateway persistent session over MQTT %s', (protocolVersion) => {
  it('delivers a result published while the only gateway was stopped once it is back (QoS 1), while heartbeats do not pile up', async () => {
    const replica = `only-v${protocolVersion}`;
    const wireId = `wire-while-down-v${protocolVersion}`;
    const propletId = `p-v${protocolVersion}`;
    // One config = one fixed client id, as a replica keeps across restarts. Its own share group: the other
    // version's stopped replica keeps its persistent session, and with it its turn in a common group (ADR 0006).
    const config = testGatewayConfig(names, domainId, { replica, protocolVersion, shareGroup: `g-${domainId}-${replica}` });
    const start = () => startGateway({ config, nc, names, metrics: testMetrics(), logger: memoryLogger() });
    gateway = await start();
    await gateway.stop();
    gateway = undefined;
    const kv = await new Kvm(nc).open(names.kv.liveness);
    expect((await kv.get(gatewayLivenessKey(replica)))?.json()).toMatchObject({ connected: false });

    const result = buildResults(place, { wireId, propletId, results: '7' });
    await device.publishAsync(result.topic, result.payload, { qos: 1 });
    const beat = buildAlive(place, { propletId });
    await device.publishAsync(beat.topic, beat.payload, { qos: 1 });

    const jsm = await jetstreamManager(nc);
    const stored = async (): Promise<number> => {
      const m = await jsm.streams.getMessage(names.inboxStream, { last_by_subj: names.inboxSubject('results', wireId) }).catch(() => null);
      return m === null ? 0 : 1;
    };
    expect(await stored()).toBe(0);
    gateway = await start();
    await waitFor(async () => (await stored()) === 1, 'the result in the inbox after the restart');
    const consumer = await jetstream(nc).consumers.get(names.inboxStream, { filter_subjects: names.inboxSubject('results', wireId) });
    expect((await consumer.next({ expires: 2_000 }))?.json()).toMatchObject({ kind: 'results', message: { task_id: wireId, results: '7' } });
    await gateway.idle();
    // The heartbeat sent while no gateway listened was QoS 0 on a clean session: gone, not replayed late.
    expect(await kv.get(livenessKey(propletId))).toBeNull();
    expect((await kv.get(gatewayLivenessKey(replica)))?.json()).toMatchObject({ connected: true });
    await gateway.stop();
    gateway = undefined;
  });
});
