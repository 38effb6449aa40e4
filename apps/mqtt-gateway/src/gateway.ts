import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { maskUrl } from '@propeller/config';
import { GATEWAY_LIVENESS_FILTER, gatewayLivenessKey, GatewayLivenessSchema, livenessKey, type GatewayLiveness, type NatsNames } from '@propeller/events';
import { KeyedQueue, sendCommand } from '@propeller/eventstore';
import { parseInbound, parseTopic } from '@propeller/mqtt-protocol';
import type { Metrics } from '@propeller/telemetry';
import { DEFAULT_STARTED_GRACE_MS, type GatewayConfig } from './config';
import { PropletDirectory } from './directory';
import { MqttLink, WITHHOLD_ACK } from './mqtt-link';
import {
  followPropletEvents,
  isRetryableCommandError,
  metricsKvKey,
  openBuckets,
  publishInbox,
  publishMetricsHistory,
  withRetry,
  type EventFollower,
  type GatewayBuckets,
} from './nats';
import { dispatchCounter } from './dispatch/dispatcher';
import { ResultsInInbox } from './results-in-inbox';
import { route, type Action, type DropReason } from './route';
import { BoundedKeyedQueue } from './work-queue';

/** Counter of dropped device messages, by topic kind and reason (protocol rejections, `nats_error`, `refused`, `unknown_topic`). */
export const REJECTED_METRIC = 'propeller_gateway_rejected_messages_total';
/** Histogram of the time from reading a message to its last NATS write, by connection (`session`, `heartbeats`). */
export const HANDLING_METRIC = 'propeller_gateway_handling_seconds';
/** Counter of device messages received, by topic kind. */
export const RECEIVED_METRIC = 'propeller_gateway_messages_total';

/** The logging the gateway needs (pino's shape). */
export interface GatewayLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What `startGateway` needs. The NATS resources of `names` (provision + `ensureInbox`) must exist. */
export interface StartGatewayOptions {
  config: GatewayConfig;
  nc: NatsConnection;
  names: NatsNames;
  metrics: Metrics;
  logger: GatewayLogger;
  /** The clock (default `() => new Date()`). */
  now?: () => Date;
  /** Retry delays of a failing NATS write or command (default 100 ms, 500 ms, 1 s). */
  retryDelays?: readonly number[];
  /** How long a `proplet.register` waits for its reply (default 5 s). */
  commandTimeoutMs?: number;
}

/** A running gateway replica. */
export interface RunningGateway {
  readonly directory: PropletDirectory;
  /** Wire ids whose result this replica wrote to the inbox (for dispatch: a `task_started` it supersedes is not relayed). */
  readonly resultsInInbox: ResultsInInbox;
  /** Both MQTT connections up. */
  mqttConnected(): boolean;
  /** Resolves once every message read so far has been handled. */
  idle(): Promise<void>;
  /**
   * Leaves the share group when another replica is up, stops reading, finishes what was read, disconnects
   * (the persistent session stays), reports `connected: false`.
   */
  stop(): Promise<void>;
}

/**
 * Starts one gateway replica: the directory follower, both MQTT connections with their shared
 * subscriptions, the handling of every device message, and the replica's own liveness key.
 */
export async function startGateway(o: StartGatewayOptions): Promise<RunningGateway> {
  const { config, nc, names, logger } = o;
  const now = o.now ?? (() => new Date());
  const retryDelays = o.retryDelays ?? [100, 500, 1_000];
  const buckets: GatewayBuckets = await openBuckets(nc, names);
  const directory = new PropletDirectory();
  const resultsInInbox = new ResultsInInbox();
  const follower: EventFollower = followPropletEvents(nc, names, directory, (e) => logger.warn({ err: e }, 'proplet event follower failed; resuming'));

  const received = o.metrics.counter({ name: RECEIVED_METRIC, help: 'Device messages received, by topic kind', labelNames: ['kind'] as const });
  const rejected = o.metrics.counter({ name: REJECTED_METRIC, help: 'Device messages dropped, by topic kind and reason', labelNames: ['kind', 'reason'] as const });
  const queue = new BoundedKeyedQueue(config.queueCapacity);
  o.metrics.gauge({
    name: 'propeller_gateway_queue_depth',
    help: 'Heartbeat-connection messages queued or being handled',
    collect() {
      this.set(queue.depth);
    },
  });
  o.metrics.gauge({
    name: 'propeller_gateway_directory_size',
    help: 'Proplets this replica knows',
    collect() {
      this.set(directory.size);
    },
  });
  const handling = o.metrics.histogram({
    name: HANDLING_METRIC,
    help: 'Seconds from reading a device message off the socket to its last NATS write (queue wait included), by connection',
    labelNames: ['connection'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
  const connectedGauge = o.metrics.gauge({ name: 'propeller_gateway_mqtt_connected', help: '1 while both MQTT connections are up' });
  // The same counter dispatch counts its relays in: a superseded task_started is one whether it was never stored or not relayed.
  const dispatched = dispatchCounter(o.metrics);
  const startedGraceMs = config.startedGraceMs ?? DEFAULT_STARTED_GRACE_MS;
  // Results read on the session whose inbox write has not settled yet, by wire id: true once stored.
  const resultsBeingStored = new Map<string, Promise<boolean>>();
  // task_started messages waiting for their result to be read, by wire id.
  const startedWaiting = new Map<string, () => void>();

  /**
   * Whether a `task_started` need not be stored: its result is in the inbox already, or is read within
   * `startedGraceMs` and then stored. Only then is it acknowledged unstored, so the result is durable before the
   * broker forgets the `task_started` (its PUBACK goes out once this settles, before the result's).
   */
  async function supersededByResult(wireId: string): Promise<boolean> {
    if (resultsInInbox.has(wireId)) return true;
    let stored = resultsBeingStored.get(wireId);
    if (stored === undefined && startedGraceMs > 0) {
      let waker: (() => void) | undefined;
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, startedGraceMs);
        waker = () => {
          clearTimeout(timer);
          wake();
        };
        startedWaiting.set(wireId, waker);
      });
      // A redelivered copy of the same task_started may have taken the slot meanwhile: leave its waker.
      if (startedWaiting.get(wireId) === waker) startedWaiting.delete(wireId);
      stored = resultsBeingStored.get(wireId);
    }
    return stored === undefined ? resultsInInbox.has(wireId) : await stored;
  }

  let stopping = false;
  // The QoS 1 messages being handled (up to `sessionInFlight` at once, in order per key), so that stop lets them finish before disconnecting.
  const sessionQueue = new KeyedQueue();
  let connectedSince: string | undefined;
  const broker = maskUrl(config.broker);

  const drop = (kind: string, reason: DropReason, topic: string, message: string, extra: { field?: string; excerpt?: string } = {}): void => {
    rejected.inc({ kind, reason });
    logger.warn({ topic, kind, reason, ...(extra.field === undefined ? {} : { field: extra.field }), detail: message }, 'device message dropped');
    const event = { replica: config.replica, at: now().toISOString(), topic, kind, reason, field: extra.field ?? null, message, payload: extra.excerpt ?? null };
    try {
      nc.publish(names.errorSubject('gateway'), JSON.stringify(event));
    } catch (e) {
      logger.warn({ err: e }, 'cannot publish the error event');
    }
  };

  const retry = <T>(fn: () => Promise<T>, retryable: (e: unknown) => boolean = () => true): Promise<T> => withRetry(fn, retryable, retryDelays);

  async function execute(action: Action, kind: string, topic: string): Promise<void> {
    try {
      switch (action.type) {
        case 'reject':
          drop(action.kind, action.reason, action.topic, action.message, { ...(action.field === undefined ? {} : { field: action.field }), excerpt: action.excerpt });
          return;
        case 'register': {
          const data = action.data;
          try {
            const request = { meta: { correlationId: randomUUID(), issuedAt: now().toISOString() }, data };
            const reply = await retry(() => sendCommand(nc, names, 'proplet', 'register', request, { timeoutMs: o.commandTimeoutMs ?? 5_000 }), isRetryableCommandError);
            // Only what the registry stored: a registration it answered with no event changed nothing.
            if (reply.sequences.length > 0) directory.registered(data.propletId, data.channel, data.dialect, reply.lastSequence);
            else directory.registrationSettled(data.propletId);
          } catch (e) {
            directory.registrationFailed(data.propletId);
            throw e;
          }
          return;
        }
        case 'liveness':
          await retry(() => buckets.liveness.put(livenessKey(action.propletId), JSON.stringify(action.value)));
          return;
        case 'metrics':
          await retry(() => buckets.metrics.put(metricsKvKey(action.scope, action.id), JSON.stringify(action.record)));
          await retry(() => publishMetricsHistory(nc, names, action.scope, action.id, action.record));
          return;
        case 'inbox':
          // A short task reports task_started and its result together: the result says both (the scheduler completes
          // a scheduled task from it), so the task_started costs no inbox write, no relay and no TaskRunning.
          if (action.kind === 'task_started' && (await supersededByResult(action.id))) {
            dispatched.inc({ kind: 'task_started', outcome: 'superseded' });
            logger.debug({ wireId: action.id }, 'task_started not stored: its result was read with it');
            return;
          }
          await retry(() => publishInbox(nc, names, action.kind, action.id, action.msgId, action.record));
          // Only now is the result durable: it reaches the scheduler even if this process dies.
          if (action.kind === 'results') resultsInInbox.add(action.id);
          return;
        default: {
          const never: never = action;
          return never;
        }
      }
    } catch (e) {
      const refused = !isRetryableCommandError(e);
      drop(kind, refused ? 'refused' : 'nats_error', topic, e instanceof Error ? e.message : String(e));
    }
  }

  /** Routes a message now (so the directory sees a heartbeat-registration before the next message) and returns its work. */
  function prepare(topic: string, payload: Buffer, connection: 'session' | 'heartbeats'): { key: string; run: () => Promise<void> } {
    const readAt = performance.now();
    const parsedTopic = parseTopic(topic);
    const kind = parsedTopic?.kind ?? 'unknown';
    received.inc({ kind });
    const actions = route(topic, payload, parseInbound(topic, payload), { now: now(), writer: config.replica, directory: (id) => directory.status(id) });
    // In order per proplet (registrations, liveness) and per inbox subject (one attempt's reports); concurrently otherwise.
    let key = topic;
    for (const a of actions) {
      if (a.type === 'register' && a.data.origin === 'heartbeat') directory.markRegistering(a.data.propletId);
      if (a.type === 'register' || a.type === 'liveness') key = a.type === 'register' ? a.data.propletId : a.propletId;
      if (a.type === 'inbox') key = `${a.kind}/${a.id}`;
    }
    // A result: a task_started of its wire id (read before it, or soon after) waits for it to be stored.
    const result = actions.find((a): a is Extract<Action, { type: 'inbox' }> => a.type === 'inbox' && a.kind === 'results');
    let settle: ((stored: boolean) => void) | undefined;
    if (result !== undefined) {
      const stored = new Promise<boolean>((r) => (settle = r));
      resultsBeingStored.set(result.id, stored);
      startedWaiting.get(result.id)?.();
    }
    return {
      key,
      run: async () => {
        try {
          for (const a of actions) await execute(a, kind, topic);
        } finally {
          if (result !== undefined) {
            settle?.(resultsInInbox.has(result.id));
            resultsBeingStored.delete(result.id);
          }
        }
        handling.observe({ connection }, (performance.now() - readAt) / 1000);
      },
    };
  }

  const link = new MqttLink(
    config,
    {
      // QoS 1 kinds: stored before their PUBACK (a crash redelivers, never loses); the link reads on while
      // earlier ones are stored (`sessionInFlight`), these run in order per key and concurrently across keys.
      session: async (topic, payload) => {
        // Read after the stop began: not acknowledged, so the broker gives it to another replica or to this one's next run.
        if (stopping) return WITHHOLD_ACK;
        const work = prepare(topic, payload, 'session');
        await sessionQueue.push(work.key, work.run);
      },
      // QoS 0 kinds: handled concurrently across proplets, in order per proplet, reading on while the queue has room.
      heartbeats: async (topic, payload) => {
        if (stopping) return new Promise<void>(() => undefined);
        const work = prepare(topic, payload, 'heartbeats');
        await queue.push(work.key, work.run);
      },
    },
    {
      onConnectionChange: (up, which) => {
        logger.info({ which, connected: up }, up ? 'mqtt connected' : 'mqtt disconnected');
        const both = link.connected;
        connectedGauge.set(both ? 1 : 0);
        if (both && connectedSince === undefined) connectedSince = now().toISOString();
        if (!both) connectedSince = undefined;
        if (both) link.announce(true);
        void reportLiveness();
      },
      onError: (err, which) => logger.warn({ which, err: err.message }, 'mqtt error'),
    },
  );

  /** True when another replica of this prefix reported a live broker connection within three refresh periods. */
  async function othersConnected(): Promise<boolean> {
    const own = gatewayLivenessKey(config.replica);
    const fresh = now().getTime() - 3 * config.livenessRefreshMs;
    for await (const key of await buckets.liveness.keys(GATEWAY_LIVENESS_FILTER)) {
      if (key === own) continue;
      const entry = await buckets.liveness.get(key);
      const parsed = GatewayLivenessSchema.safeParse(entry && entry.length > 0 ? entry.json() : null);
      if (parsed.success && parsed.data.connected && Date.parse(parsed.data.at) >= fresh) return true;
    }
    return false;
  }

  async function reportLiveness(): Promise<void> {
    const connected = !stopping && link.connected;
    const value: GatewayLiveness = { connected, at: now().toISOString(), broker, ...(connected && connectedSince ? { connectedSince } : {}) };
    try {
      await buckets.liveness.put(gatewayLivenessKey(config.replica), JSON.stringify(value));
    } catch (e) {
      logger.warn({ err: e }, 'cannot write the gateway liveness');
    }
  }

  try {
    await link.ready();
  } catch (e) {
    await link.close().catch(() => undefined);
    await follower.stop();
    throw e;
  }
  const refresh = setInterval(() => void reportLiveness(), config.livenessRefreshMs);
  refresh.unref();
  logger.info({ replica: config.replica, clientId: config.clientId, shareGroup: config.shareGroup, domainId: config.domainId }, 'gateway subscribed');

  return {
    directory,
    resultsInInbox,
    mqttConnected: () => link.connected,
    idle: async () => {
      await Promise.all([queue.idle(), sessionQueue.idle()]);
    },
    async stop() {
      clearInterval(refresh);
      // A persistent session keeps its turn in the share group while it is away (ADR 0006). When another
      // replica is up, leave the group first, so nothing more waits for this one; the last replica stays in
      // it, so the broker keeps its QoS 1 messages until it is back.
      const leave = await othersConnected().catch(() => false);
      if (leave) {
        await link.leaveGroup().catch((e: unknown) => logger.warn({ err: e }, 'cannot leave the share group'));
      }
      stopping = true;
      await Promise.all([queue.idle(), sessionQueue.idle()]);
      link.announce(false);
      await link.close();
      await reportLiveness();
      await follower.stop();
    },
  };
}
