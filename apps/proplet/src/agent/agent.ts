import { connect, type MqttClient } from 'mqtt';
import { InvalidError } from '@propeller/events';
import {
  buildAlive,
  buildCreate,
  buildLastWill,
  buildMetrics,
  buildRegistryRequest,
  buildResults,
  buildTaskMetrics,
  buildTaskStarted,
  parseRegistryChunk,
  parseStart,
  parseStop,
  parseTopic,
  reassembleChunks,
  topicsFor,
  type ChannelRef,
  type ChannelTopics,
  type Outbound,
  type RegistryChunkMessage,
  type StartMessage,
  type StopMessage,
} from '@propeller/mqtt-protocol';
import type { Logger } from './log';
import type { TaskRunner } from '../runner';
import type { TaskOutcome } from '../sandbox/sandbox';
import type { PropletConfig } from './config';
import type { HostInfo } from './host';
import type { PropletMetrics } from './metrics';

/** What the agent needs; the runner's module store should use `agent.fetchFromRegistry`. */
export interface AgentDeps {
  config: PropletConfig;
  runner: TaskRunner;
  host: HostInfo;
  logger: Logger;
  metrics?: PropletMetrics;
  /** MQTT persistent session (fixed client id, clean=false) so starts sent while reconnecting are kept; default true. */
  persistentSession?: boolean;
  /** How long a registry fetch waits for all chunks (default 60 s, the Rust proplet's patience). */
  registryTimeoutMs?: number;
  version?: string;
}

/** The W3C `traceparent` MQTT 5 user property of a message, if any (a repeated property counts once). */
function traceparentOf(props: Record<string, string | string[]> | undefined): string | undefined {
  const v = props?.['traceparent'];
  return Array.isArray(v) ? v[0] : v;
}

/** How long shutdown waits for the broker to acknowledge the last results. */
const FLUSH_TIMEOUT_MS = 5_000;

/** How many finished wire ids are remembered to ignore a redelivered start (QoS 1 may deliver twice). */
const FINISHED_MEMORY = 1000;

interface RegistryWait {
  chunks: RegistryChunkMessage[];
  resolve: (bytes: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  promise: Promise<Uint8Array>;
}

/**
 * The proplet's MQTT side (PROTOCOL.md, as a device with the `propeller` extension): registers on
 * every connect, beats, runs the starts addressed to it, reports `task_started` and results, answers
 * stops, fetches modules over `registry/*`, and drains on shutdown.
 */
export class PropletAgent {
  readonly channel: ChannelRef;
  readonly topics: ChannelTopics;
  private client?: MqttClient;
  private heartbeat?: NodeJS.Timeout;
  private draining = false;
  private readonly finished = new Set<string>();
  private readonly publishing = new Set<Promise<unknown>>();
  private readonly registryWaits = new Map<string, RegistryWait>();
  private cpuMark = { usage: process.cpuUsage(), at: performance.now() };

  constructor(private readonly deps: AgentDeps) {
    const { mqtt } = deps.config;
    this.channel = { domainId: mqtt.domainId, channelId: mqtt.channelId, layout: mqtt.layout };
    this.topics = topicsFor(this.channel);
  }

  get propletId(): string {
    return this.deps.config.propletId;
  }

  /** True while the MQTT connection is up. */
  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** True once shutdown began: no new work is taken. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Connects (and keeps reconnecting); resolves on the first connection. */
  async start(): Promise<void> {
    const { config, logger } = this.deps;
    const will = buildLastWill(this.channel, { propletId: this.propletId });
    const persistent = this.deps.persistentSession ?? true;
    const client = connect(config.mqtt.url, {
      clientId: `proplet-${this.propletId}`,
      // MQTT 5 so the task's `traceparent` user property can travel with its start and come back
      // with its result; a persistent session then needs an expiry (1 h covers a network outage).
      protocolVersion: 5,
      clean: !persistent,
      ...(persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: false },
    });
    this.client = client;
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, traceparentOf(packet.properties?.userProperties)));
    client.on('close', () => logger.debug('mqtt connection closed'));
    client.on('error', (err) => logger.warn({ err: err.message }, 'mqtt error'));
    client.on('connect', () => {
      void this.onConnect().catch((err: unknown) => logger.error({ err: String(err) }, 'registration after connect failed'));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        // Before the first connection a refused connection is a configuration problem: report it.
        if (!client.connected) {
          client.removeListener('connect', onConnect);
          reject(err);
        }
      };
      const onConnect = (): void => {
        client.removeListener('error', onError);
        resolve();
      };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    this.heartbeat = setInterval(() => this.beat(), config.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  /** Runs on every (re)connect: subscribe, register, beat, so a broker restart re-registers us. */
  private async onConnect(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const { config, host, logger } = this.deps;
    const filters = [this.topics.startFor(this.propletId), this.topics.stopFor(this.propletId), this.topics.start, this.topics.stop, this.topics.registryChunk];
    await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    const create = buildCreate(this.channel, {
      propletId: this.propletId,
      deviceType: config.deviceType,
      capabilities: config.capabilities,
      namespace: config.owner?.namespace ?? 'default',
      metadata: {
        hostname: host.hostname,
        os: host.os,
        cpuArch: host.cpuArch,
        totalMemoryBytes: host.totalMemoryBytes,
        ...(host.ip ? { ip: host.ip } : {}),
        wasmRuntime: `node-${process.versions.node}-v8-${process.versions.v8}`,
        ...(this.deps.version ? { propletVersion: this.deps.version } : {}),
      },
      propeller: {
        type: config.type,
        labels: config.labels,
        capacity: config.capacity,
        maxTasks: config.maxTasks,
        perPropletTopics: true,
        ...(config.owner ? { owner: config.owner } : {}),
      },
    });
    await this.publish(create);
    this.beat();
    logger.info({ propletId: this.propletId, topic: create.topic }, 'registered');
  }

  /** Sends `alive` with the current load, and the proplet metrics message. */
  beat(): void {
    if (!this.client?.connected || this.draining) return;
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedUs = Math.max(1, (now - this.cpuMark.at) * 1000);
    const cpuPercent = ((usage.user - this.cpuMark.usage.user + usage.system - this.cpuMark.usage.system) / elapsedUs) * 100;
    this.cpuMark = { usage, at: now };
    const rss = process.memoryUsage.rss();
    const load = { runningTasks: this.deps.runner.activeCount, cpuPercent: Math.round(cpuPercent * 10) / 10, memoryBytes: rss };
    void this.publish(buildAlive(this.channel, { propletId: this.propletId, load }), 0);
    void this.publish(
      buildMetrics(this.channel, {
        propletId: this.propletId,
        timestamp: new Date(),
        cpu: { userSeconds: usage.user / 1e6, systemSeconds: usage.system / 1e6, percent: load.cpuPercent },
        memory: { rssBytes: rss, heapUsedBytes: process.memoryUsage().heapUsed },
      }),
      0,
    );
  }

  private onMessage(topic: string, payload: Buffer, traceparent?: string): void {
    const parsed = parseTopic(topic);
    if (parsed === null) return;
    const { logger } = this.deps;
    switch (parsed.kind) {
      case 'start': {
        const start = parseStart(payload);
        if (!start.ok) {
          logger.warn({ topic, reason: start.reason, field: start.field, message: start.message }, 'start rejected');
          return;
        }
        this.onStart(start.value, parsed.propletId === this.propletId, traceparent);
        return;
      }
      case 'stop': {
        const stop = parseStop(payload);
        if (!stop.ok) {
          logger.warn({ topic, reason: stop.reason, message: stop.message }, 'stop rejected');
          return;
        }
        this.onStop(stop.value);
        return;
      }
      case 'registry_chunk': {
        const chunk = parseRegistryChunk(payload);
        if (chunk.ok) this.onRegistryChunk(chunk.value);
        return;
      }
      default:
        return;
    }
  }

  private onStart(start: StartMessage, onOwnTopic: boolean, traceparent?: string): void {
    const { logger, runner, config } = this.deps;
    const wireId = start.id;
    // Shared start topics reach every proplet of the channel; only ours (or a broadcast) is run.
    if (start.proplet_id !== undefined && start.proplet_id !== this.propletId) {
      logger.debug({ wireId, for: start.proplet_id }, 'start for another proplet ignored');
      return;
    }
    if (start.proplet_id === undefined && !start.broadcast && !onOwnTopic) {
      logger.debug({ wireId }, 'start on the shared topic without proplet_id and not broadcast ignored');
      return;
    }
    if (runner.has(wireId) || this.finished.has(wireId)) {
      logger.info({ wireId }, 'duplicate start ignored');
      return;
    }
    const attempt = start.attempt ?? 1;
    if (this.draining) {
      void this.publishResult({ wireId, ok: false, result: '', error: `proplet ${this.propletId} is shutting down and takes no new work`, durationMs: 0 }, attempt, traceparent);
      return;
    }
    const url = start.image_url;
    const module = start.file !== undefined ? { inline: start.file } : url !== undefined && /^https?:\/\//i.test(url) ? { url } : { registryName: url ?? '' };
    logger.info({ wireId, taskId: start.task_id, attempt, name: start.name }, 'task received');
    const run = runner.run({
      wireId,
      module,
      name: start.name,
      inputs: start.inputs,
      cliArgs: start.cli_args,
      env: start.env,
      // A daemon runs until it is stopped; everything else has the wall-clock limit.
      timeoutMs: start.daemon ? 2 ** 31 - 1 : config.taskTimeoutMs,
      onStarted: () => {
        this.deps.metrics?.taskStarted();
        void this.publish(buildTaskStarted(this.channel, { wireId, propletId: this.propletId, attempt }), 1, traceparent);
      },
    });
    run
      .then((outcome) => {
        this.remember(wireId);
        this.deps.metrics?.taskFinished(outcome);
        logger.info({ wireId, ok: outcome.ok, error: outcome.error, durationMs: outcome.durationMs }, 'task finished');
        void this.publish(
          buildTaskMetrics(this.channel, {
            wireId,
            propletId: this.propletId,
            metrics: { duration_ms: outcome.durationMs, ok: outcome.ok, ...(outcome.reason ? { reason: outcome.reason } : {}) },
            timestamp: new Date(),
          }),
          0,
        );
        return this.publishResult(outcome, attempt, traceparent);
      })
      .catch((err: unknown) => logger.error({ wireId, err: String(err) }, 'task could not be run'));
  }

  private onStop(stop: StopMessage): void {
    if (stop.proplet_id !== undefined && stop.proplet_id !== this.propletId) return;
    const known = this.deps.runner.stop(stop.id);
    this.deps.logger.info({ wireId: stop.id, known }, 'stop received');
  }

  private remember(wireId: string): void {
    this.finished.add(wireId);
    if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.values().next().value as string);
  }

  private publishResult(outcome: TaskOutcome, attempt: number, traceparent?: string): Promise<void> {
    const msg = buildResults(this.channel, {
      wireId: outcome.wireId,
      propletId: this.propletId,
      results: outcome.result,
      ...(outcome.ok ? {} : { error: outcome.error ?? 'task failed' }),
    });
    // `attempt` is our extension: upstream readers ignore the unknown key, the wire id already names the attempt.
    const payload = JSON.stringify({ ...(JSON.parse(msg.payload) as object), attempt });
    return this.publish({ topic: msg.topic, payload }, 1, traceparent);
  }

  private publish(msg: Outbound, qos: 0 | 1 = 1, traceparent?: string): Promise<void> {
    const client = this.client;
    if (!client) return Promise.resolve();
    const properties = traceparent === undefined ? undefined : { userProperties: { traceparent } };
    const p = client
      .publishAsync(msg.topic, msg.payload, { qos, retain: false, ...(properties ? { properties } : {}) })
      .then(() => undefined)
      .catch((err: unknown) => this.deps.logger.warn({ topic: msg.topic, err: String(err) }, 'publish failed'));
    this.publishing.add(p);
    void p.finally(() => this.publishing.delete(p));
    return p;
  }

  /** Asks the plane for a module by name over `registry/proplet` and reassembles its chunks. */
  fetchFromRegistry(name: string): Promise<Uint8Array> {
    const existing = this.registryWaits.get(name);
    if (existing) return existing.promise;
    let wait!: RegistryWait;
    const promise = new Promise<Uint8Array>((resolve, reject) => {
      const timeoutMs = this.deps.registryTimeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        this.registryWaits.delete(name);
        reject(new InvalidError(`module ${name} did not arrive from the registry within ${timeoutMs} ms`));
      }, timeoutMs);
      wait = { chunks: [], resolve, reject, timer, promise: undefined as unknown as Promise<Uint8Array> };
    });
    wait.promise = promise;
    this.registryWaits.set(name, wait);
    void this.publish(buildRegistryRequest(this.channel, name));
    return promise;
  }

  private onRegistryChunk(chunk: RegistryChunkMessage): void {
    const wait = this.registryWaits.get(chunk.app_name);
    if (!wait) return;
    wait.chunks.push(chunk);
    if (new Set(wait.chunks.map((c) => c.chunk_idx)).size < chunk.total_chunks) return;
    this.registryWaits.delete(chunk.app_name);
    clearTimeout(wait.timer);
    const whole = reassembleChunks(wait.chunks);
    if (whole.ok) wait.resolve(new Uint8Array(whole.bytes));
    else wait.reject(new InvalidError(`module ${chunk.app_name} from the registry: ${whole.message}`));
  }

  /**
   * Graceful stop: take no new work, publish `offline`, let running tasks finish for up to
   * `drainTimeoutMs` (then stop them, which reports them failed), flush results, disconnect.
   */
  async shutdown(drainTimeoutMs = this.deps.config.drainTimeoutMs): Promise<{ drained: boolean }> {
    const { logger, runner } = this.deps;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.draining = true;
    const client = this.client;
    if (client?.connected) {
      await this.publish(buildAlive(this.channel, { propletId: this.propletId, status: 'offline' }));
    }
    logger.info({ running: runner.activeCount, drainTimeoutMs }, 'draining');
    const drained = await runner.idle(drainTimeoutMs);
    if (!drained) {
      logger.warn({ running: runner.activeCount }, 'drain timeout: stopping the remaining tasks');
      runner.sandbox.stopAll();
      await runner.idle(5_000);
    }
    // Results are published from the runs' continuations; let them reach the broker, but do not
    // wait forever for acks from a broker that is gone.
    await new Promise((r) => setImmediate(r));
    let flushTimer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      Promise.all([...this.publishing]).then(() => true),
      new Promise<boolean>((resolve) => {
        flushTimer = setTimeout(() => resolve(false), FLUSH_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(flushTimer);
    if (!flushed) logger.warn({ pending: this.publishing.size }, 'results not acknowledged by the broker before exit');
    for (const w of this.registryWaits.values()) {
      clearTimeout(w.timer);
      w.reject(new InvalidError('proplet is shutting down'));
    }
    this.registryWaits.clear();
    // A forced end does not wait for in-flight acks, which `flushed === false` says will not come.
    await client?.endAsync(!flushed);
    return { drained };
  }
}
