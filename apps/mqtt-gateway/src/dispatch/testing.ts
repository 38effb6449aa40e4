import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { waitFor } from '@propeller/eventstore/testing';
// The real API, registry and scheduler in-process on one fresh prefix and schema, with the test as the
// health judge. Not exported from `@propeller/api/testing` yet, so imported by path (test wiring only),
// as the CLI's tests do.
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { openTasksWorld, type TasksWorld } from '../../../api/src/testing/tasks-world';
import { startGateway, type RunningGateway } from '../gateway';
import { ensureInbox } from '../nats';
import { cleanupInbox, memoryLogger, TEST_BROKER, testDomainId, testGatewayConfig, testMetrics } from '../testing';
import { startDispatcher, type RunningDispatcher } from './dispatcher';

/** Test helpers of dispatch's int tests (never imported by production code). */

/** PROTOCOL.md "Examples": add(i32, i32) -> i32. */
export const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';
/** The same body exported as `main`, for ESP32 targets. */
export const MAIN_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwgBBG1haW4AAAoJAQcAIAAgAWoL';

/** The tasks world plus a real gateway and its dispatcher on the same prefix, under a fresh MQTT domain. */
export interface DispatchWorld {
  w: TasksWorld;
  domainId: string;
  gateway: RunningGateway;
  /** The running dispatcher (a new one after `withoutDispatch`). */
  readonly dispatcher: RunningDispatcher;
  /** The MQTT connection the dispatcher publishes on. */
  publisher: MqttClient;
  logger: ReturnType<typeof memoryLogger>;
  /** Stops the dispatcher, runs `meanwhile` (the gateway still writes the inbox), then starts a new one on the same durable consumers. */
  withoutDispatch(meanwhile: () => Promise<void>): Promise<void>;
  /** Registers a proplet as the gateway would from its create (through the real registry) and makes it healthy. */
  proplet(id: string, how: { channelId: string; layout: 'messages' | 'direct'; perPropletTopics: boolean; dialect: 'wasmtime' | 'wamr'; deviceType?: string }): Promise<void>;
  close(): Promise<void>;
}

/** Opens the world: registry, scheduler, API, gateway and dispatcher. */
export async function openDispatchWorld(opts: { startedGraceMs?: number; gatewayStartedGraceMs?: number } = {}): Promise<DispatchWorld> {
  const w = await openTasksWorld();
  const domainId = testDomainId();
  const logger = memoryLogger();
  let gateway: RunningGateway | undefined;
  let publisher: MqttClient | undefined;
  let dispatcher: RunningDispatcher | undefined;
  try {
    await ensureInbox(w.nc, w.names);
    const config = testGatewayConfig(w.names, domainId, opts.gatewayStartedGraceMs === undefined ? {} : { startedGraceMs: opts.gatewayStartedGraceMs });
    gateway = await startGateway({ config, nc: w.nc, names: w.names, metrics: testMetrics(), logger });
    publisher = await mqttClient({ clientId: `${config.clientId}-dispatch`, protocolVersion: 5 });
    dispatcher = await dispatch(w, gateway, publisher, logger, opts.startedGraceMs);
  } catch (e) {
    // Whatever started is stopped, so a failed setup neither leaks connections nor keeps jest alive.
    await dispatcher?.stop().catch(() => undefined);
    await gateway?.stop().catch(() => undefined);
    await publisher?.endAsync().catch(() => undefined);
    await cleanupInbox(w.nc, w.names).catch(() => undefined);
    await w.close();
    throw e;
  }
  const running = { dispatcher };
  return {
    w,
    domainId,
    gateway,
    get dispatcher() {
      return running.dispatcher;
    },
    publisher,
    logger,
    async withoutDispatch(meanwhile) {
      await running.dispatcher.stop();
      try {
        await meanwhile();
      } finally {
        running.dispatcher = await dispatch(w, gateway, publisher, logger, opts.startedGraceMs);
      }
    },
    async proplet(id, how) {
      await w.healthyProplet(id, {
        type: 'external',
        deviceType: how.deviceType ?? (how.dialect === 'wamr' ? 'esp32' : 'linux'),
        dialect: how.dialect,
        channel: { domainId, channelId: how.channelId, layout: how.layout, perPropletTopics: how.perPropletTopics },
      });
      await waitFor(() => gateway.directory.get(id) !== undefined, `proplet ${id} in the gateway's directory`);
    },
    async close() {
      await running.dispatcher.stop().catch(() => undefined);
      await gateway.stop().catch(() => undefined);
      await publisher.endAsync().catch(() => undefined);
      await cleanupInbox(w.nc, w.names).catch(() => undefined);
      await w.close();
    },
  };
}

/** Starts a dispatcher with the gateway's record of results in the inbox and waits until its attempt index has read the task history. */
async function dispatch(w: TasksWorld, gateway: RunningGateway, publisher: MqttClient, logger: ReturnType<typeof memoryLogger>, startedGraceMs?: number): Promise<RunningDispatcher> {
  const started = await startDispatcher({
    ...(startedGraceMs === undefined ? {} : { startedGraceMs }),
    nc: w.nc,
    names: w.names,
    publisher,
    directory: gateway.directory,
    resultsInInbox: gateway.resultsInInbox,
    logger,
    metrics: testMetrics(),
    backoff: [100, 300, 600, 1_000],
  });
  let ready = false;
  void started.ready.then(() => (ready = true));
  try {
    await waitFor(() => ready, 'the attempt index to read the task history');
  } catch (e) {
    await started.stop().catch(() => undefined);
    throw e;
  }
  return started;
}

/** A plain MQTT connection (raw `mqtt`), resolved once connected. */
export async function mqttClient(opts: Partial<IClientOptions> = {}): Promise<MqttClient> {
  const client = connect(TEST_BROKER, { clientId: `dev-${randomBytes(4).toString('hex')}`, clean: true, reconnectPeriod: 0, ...opts });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** Every JSON message a client receives on a topic filter, kept in order (with the MQTT 5 user properties). */
export interface Inbox {
  messages: Array<{ topic: string; json: Record<string, unknown>; userProperties?: Record<string, string | string[]> }>;
  /** Waits for the first message matching `pred`. */
  next(pred: (m: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Subscribes a device to `filter` (QoS 1) and records what arrives. */
export async function listen(client: MqttClient, filter: string): Promise<Inbox> {
  const messages: Inbox['messages'] = [];
  client.on('message', (topic, payload, packet) => {
    try {
      const json = JSON.parse(payload.toString()) as Record<string, unknown>;
      messages.push({ topic, json, ...(packet.properties?.userProperties ? { userProperties: packet.properties.userProperties } : {}) });
    } catch {
      // Not JSON: not ours to check here.
    }
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    messages,
    async next(pred, what, timeoutMs = 10_000) {
      let hit: Record<string, unknown> | undefined;
      await waitFor(
        () => {
          hit = messages.find((m) => pred(m.json))?.json;
          return hit !== undefined;
        },
        what,
        timeoutMs,
      );
      return hit as Record<string, unknown>;
    },
  };
}
