import { randomBytes, randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { makeEnvelope, parseCommand, type CommandData, type NatsNames, type PropletRegistered } from '@propeller/events';
import { encodeEnvelope, envelopeHeaders, isStreamNotFound, serveCommands, type CommandServer } from '@propeller/eventstore';
import { createMetrics, type Metrics } from '@propeller/telemetry';
import { connect, type MqttClient } from 'mqtt';
import { DEFAULT_QUEUE_CAPACITY, type GatewayConfig } from '../config';
import type { GatewayLogger } from '../gateway';

/** Test helpers for the gateway (`@propeller/mqtt-gateway/testing`); never imported by production code. */

/** The test broker (`MQTT_BROKER`, default `mqtt://127.0.0.1:1883`). */
export const TEST_BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';

/** A fresh MQTT domain id (`d` + 8 hex digits), so parallel tests never see each other's devices. */
export const testDomainId = (): string => `d${randomBytes(4).toString('hex')}`;

/** A gateway configuration for tests: its own replica and share group under a test domain and prefix. */
export function testGatewayConfig(names: NatsNames, domainId: string, overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const replica = overrides.replica ?? `r${randomBytes(3).toString('hex')}`;
  const clientId = overrides.clientId ?? `gw-${domainId}-${replica}`;
  return {
    replica,
    clientId,
    heartbeatClientId: `${clientId}-hb`,
    broker: TEST_BROKER,
    tls: {},
    domainId,
    shareGroup: `g-${domainId}`,
    queueCapacity: DEFAULT_QUEUE_CAPACITY,
    // Long enough for a restart inside a test, short enough not to pile sessions up on the shared broker.
    sessionExpiryMs: 2 * 60_000,
    livenessRefreshMs: 1_000,
    protocolVersion: 5,
    natsUrl: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    natsPrefix: names.prefix,
    ...overrides,
  };
}

/** A logger that keeps what it is told (for assertions) and prints nothing. */
export function memoryLogger(): GatewayLogger & { lines: Array<{ level: string; msg?: string; obj: object }> } {
  const lines: Array<{ level: string; msg?: string; obj: object }> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj, ...(msg === undefined ? {} : { msg }) });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A metrics registry without Node's process metrics. */
export const testMetrics = (): Metrics => createMetrics({ defaultMetrics: false });

/** The value of one counter series, 0 when it was never incremented. */
export async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}

/**
 * TEST DOUBLE of the registry: answers `proplet.register` on the real NATS, records every request,
 * and, like the registry, is idempotent by proplet id — the first registration of an id appends a
 * `PropletRegistered` event (so the gateways' directories follow it), later ones append nothing.
 */
export interface RegistryDouble {
  readonly requests: Array<CommandData<'proplet.register'>>;
  /** Ids registered (one `PropletRegistered` each). */
  readonly registered: Set<string>;
  /** Refuse the next `n` requests as a broken registry would (`Internal`), to test the gateway's retries. */
  failNext(n: number): void;
  stop(): Promise<void>;
}

export function startRegistryDouble(nc: NatsConnection, names: NatsNames): RegistryDouble {
  const requests: Array<CommandData<'proplet.register'>> = [];
  const registered = new Set<string>();
  let failures = 0;
  let seq = 0;
  const js = jetstream(nc);
  const server: CommandServer = serveCommands(nc, names, 'proplet', {
    register: async (raw) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error('registry double: induced failure');
      }
      const cmd = parseCommand('proplet.register', raw);
      requests.push(cmd.data);
      const id = cmd.data.propletId;
      if (registered.has(id)) return { aggregateId: id, sequences: [], lastSequence: seq };
      registered.add(id);
      const { propletId: _id, origin: _origin, ...data } = cmd.data;
      const event: PropletRegistered = { type: 'PropletRegistered', data: { ...data, registeredAt: cmd.meta.issuedAt } };
      const env = makeEnvelope({ event, aggregateId: id, meta: { correlationId: cmd.meta.correlationId }, id: randomUUID(), occurredAt: cmd.meta.issuedAt });
      const ack = await js.publish(names.eventSubject('proplet', id), encodeEnvelope(env), { headers: envelopeHeaders(env), msgID: env.id });
      seq = ack.seq;
      return { aggregateId: id, sequences: [ack.seq], lastSequence: ack.seq };
    },
  });
  return {
    requests,
    registered,
    failNext: (n) => void (failures = n),
    stop: () => server.stop(),
  };
}

/** Deletes the inbox stream of a prefix (what `cleanup` of the eventstore does not know). */
export async function cleanupInbox(nc: NatsConnection, names: NatsNames): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.delete(names.inboxStream);
  } catch (e) {
    if (!isStreamNotFound(e)) throw e;
  }
}

/** A plain MQTT connection as a device (or a test) opens it; resolves once connected. */
export async function connectDevice(clientId: string, opts: { will?: { topic: string; payload: string } } = {}): Promise<MqttClient> {
  const client = connect(TEST_BROKER, {
    clientId,
    clean: true,
    reconnectPeriod: 0,
    ...(opts.will ? { will: { topic: opts.will.topic, payload: Buffer.from(opts.will.payload), qos: 1, retain: false } } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}
