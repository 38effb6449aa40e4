import { randomUUID } from 'node:crypto';
import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  decodeKvToken,
  isConflict,
  isInvalid,
  isNotFound,
  PROPLET_LIVENESS_FILTER,
  type CommandDataInput,
  type CommandName,
  type NatsNames,
  type StoredEnvelope,
} from '@propeller/events';
import { CommandBatcher, EventStore, runConsumer, sendCommand, type ConsumerRunner } from '@propeller/eventstore';
import { chunkModule, shapeStart, shapeStop, topicsFor, type ShapeTarget, type StartModule } from '@propeller/mqtt-protocol';
import type { Metrics } from '@propeller/telemetry';
import type { Counter } from 'prom-client';
import { validate as isUuid } from 'uuid';
import type { DirectoryEntry } from '../directory';
import type { GatewayLogger } from '../gateway';
import type { ResultsInInbox } from '../results-in-inbox';
import type { InboxRecord } from '../route';
import { AttemptIndex, type AttemptRef } from './attempt-index';
import { runInboxConsumer, type InboxConsumer, type InboxContext } from './inbox-consumer';
import { ModuleSource, type LoadedModule, type ModuleStore } from './modules';
import { followTaskEvents, type TaskFollower } from './task-follower';
import { DEFAULT_TASK_VIEWS, foldTaskView, startStillWanted, TaskViews, type TaskView } from './task-view';

/** Durable process manager of the task events that need a device (`<p>-gateway-dispatch`). */
export const DISPATCH_CONSUMER = 'gateway-dispatch';
/** Durable consumer of the inbox stream (`<p>-gateway-inbox`). */
export const INBOX_CONSUMER = 'gateway-inbox';
/** Counter of what dispatch sent or relayed, by kind and outcome. */
export const DISPATCH_METRIC = 'propeller_gateway_dispatch_total';
/** Task event types the dispatch consumer handles. */
export const DISPATCH_EVENT_TYPES = ['TaskScheduled', 'TaskEvacuated', 'TaskStopped', 'TaskDeleted', 'TaskFailed'] as const;

/** The MQTT publishing the dispatcher needs (mqtt.js's `MqttClient` has it); resolves when the broker accepted a QoS 1 message. */
export interface DispatchPublisher {
  publishAsync(topic: string, message: string | Buffer, opts: { qos: 0 | 1; retain?: boolean; properties?: { userProperties?: Record<string, string> } }): Promise<unknown>;
}

/** Where proplets are reached (the gateway's `PropletDirectory`). */
export interface DispatchDirectory {
  get(propletId: string): DirectoryEntry | undefined;
}

/** How long a stored `task_started` waits for its result before it is relayed (`StartDispatcherOptions.startedGraceMs`). */
export const DEFAULT_RELAY_GRACE_MS = 50;

/** The counter of `DISPATCH_METRIC` (the gateway counts the `task_started` it supersedes before storing in it too). */
export function dispatchCounter(metrics: Metrics): Counter<'kind' | 'outcome'> {
  return metrics.counter({ name: DISPATCH_METRIC, help: 'Starts, stops, chunks sent and device reports relayed by dispatch, by kind and outcome', labelNames: ['kind', 'outcome'] as const });
}

/** What `startDispatcher` needs; the gateway's NATS resources (provision, `ensureInbox`) must exist. */
export interface StartDispatcherOptions {
  nc: NatsConnection;
  names: NatsNames;
  publisher: DispatchPublisher;
  /** MQTT version of the publisher's session: the `traceparent` user property needs 5 (default 5). */
  protocolVersion?: 4 | 5;
  directory: DispatchDirectory;
  logger: GatewayLogger;
  metrics?: Metrics;
  /** The module store (default the object store `names.modules`). */
  modules?: ModuleStore;
  /** `MODULE_MAX_BYTES` for modules fetched by URL (default 16 MiB). */
  moduleMaxBytes?: number;
  /** How long a task command waits for its reply (default 5 s). */
  commandTimeoutMs?: number;
  /** Tries per event or inbox message before it is dead-lettered (default 5). */
  maxTries?: number;
  /** Delays between tries (default 200 ms, 1 s, 2 s, 5 s). */
  backoff?: readonly number[];
  now?: () => Date;
  /** Live task views held for starts (default 100,000; past it a start reads its task's history). */
  taskViews?: number;
  /** How long a start waits for the task follower to reach its `TaskScheduled` before reading the history (default 2 s). */
  viewWaitMs?: number;
  /** The gateway's record of results written to the inbox: a `task_started` whose result is there is not relayed (default none: every one is relayed). */
  resultsInInbox?: Pick<ResultsInInbox, 'has'>;
  /**
   * How long a `task_started` whose result is not in the inbox yet waits for it before it is relayed
   * (default `DEFAULT_RELAY_GRACE_MS`; 0 relays at once). Only with `resultsInInbox`.
   */
  startedGraceMs?: number;
}

/** A running dispatcher. */
export interface RunningDispatcher {
  readonly attempts: AttemptIndex;
  /** Starts that read their task's history from the stream instead of the follower's view. */
  viewMisses(): number;
  /** Resolves once the attempt index has read the task history. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

type ResultMessage = { task_id: string; proplet_id?: string; results?: unknown; error?: string | null };
type StartedMessage = { task_id: string; proplet_id: string; attempt?: number };
type RegistryRequest = { app_name: string };

const channelKey = (c: { domainId: string; channelId: string; layout: string }): string => `${c.domainId}/${c.channelId}/${c.layout}`;

/** The shape target of a directory entry. */
export function targetOf(entry: DirectoryEntry): ShapeTarget {
  return {
    propletId: entry.propletId,
    dialect: entry.dialect,
    perPropletTopics: entry.perPropletTopics,
    channel: { domainId: entry.domainId, channelId: entry.channelId, layout: entry.layout },
  };
}

/**
 * Dispatch in the gateway (issue 4): starts for `TaskScheduled`, stops for stopped, deleted, evacuated and
 * timed-out attempts (and for abandoned attempts when their proplet is heard from again), results and
 * `task_started` from the inbox turned into task commands, and `registry/proplet` answered with chunks.
 * Timeouts are the scheduler's (its timers send `task.recordTimeout`); nothing here counts time.
 */
export async function startDispatcher(o: StartDispatcherOptions): Promise<RunningDispatcher> {
  const startedGraceMs = o.startedGraceMs ?? DEFAULT_RELAY_GRACE_MS;
  const { nc, names, publisher, directory, logger } = o;
  const now = o.now ?? (() => new Date());
  const v5 = (o.protocolVersion ?? 5) === 5;
  const store = new EventStore(nc, names);
  const modules = new ModuleSource({ store: o.modules ?? (await new Objm(nc).open(names.modules)), ...(o.moduleMaxBytes === undefined ? {} : { maxBytes: o.moduleMaxBytes }) });
  const attempts = new AttemptIndex();
  const views = new TaskViews(o.taskViews ?? DEFAULT_TASK_VIEWS);
  const viewWaitMs = o.viewWaitMs ?? 2_000;
  let viewMisses = 0;
  const wamrChannels = new Set<string>();
  const counter = o.metrics === undefined ? undefined : dispatchCounter(o.metrics);
  const count = (kind: string, outcome: string): void => counter?.inc({ kind, outcome });

  // Device results arrive as a steady stream: those relayed in one turn go to the scheduler as one message.
  const sendOptions = { timeoutMs: o.commandTimeoutMs ?? 5_000 };
  const results = new CommandBatcher(nc, names, 'task', 'recordResult', sendOptions);
  const command = <N extends CommandName>(name: N, data: CommandDataInput<N>, traceparent?: string | null) => {
    const [aggregate, cmd] = name.split('.') as [string, string];
    const meta = { correlationId: randomUUID(), issuedAt: now().toISOString(), ...(traceparent ? { traceparent } : {}) };
    if (name === 'task.recordResult') return results.send({ meta, data });
    return sendCommand(nc, names, aggregate, cmd, { meta, data }, sendOptions);
  };

  const publish = async (topic: string, payload: string, traceparent?: string | null): Promise<void> => {
    await publisher.publishAsync(topic, payload, { qos: 1, retain: false, ...(v5 && traceparent ? { properties: { userProperties: { traceparent } } } : {}) });
  };

  /** Fails the attempt through the scheduler's own path (a result with an error), so the reason is on the timeline. */
  const failAttempt = async (ref: { taskId: string; wireId: string; propletId: string }, error: string, traceparent?: string | null): Promise<void> => {
    try {
      await command('task.recordResult', { taskId: ref.taskId, wireId: ref.wireId, propletId: ref.propletId, results: null, error }, traceparent);
    } catch (e) {
      if (isConflict(e) || isNotFound(e) || isInvalid(e)) logger.warn({ taskId: ref.taskId, wireId: ref.wireId, err: (e as Error).message }, 'cannot fail the attempt; it has moved on');
      else throw e;
    }
  };

  async function moduleFor(view: TaskView): Promise<{ module: StartModule; loaded?: LoadedModule }> {
    if (view.module !== null) {
      const loaded = view.module.source === 'url' && view.module.url ? await modules.load(view.module.url, view.module.digest) : await modules.byDigest(view.module.digest);
      return { module: { file: loaded.bytes }, loaded };
    }
    if (view.imageUrl === null) throw new Error('the task names no module');
    // The module is fetched and checked now (size, digest pin, OCI refused), so a bad module fails the
    // task instead of the device; the start still names image_url where the inline module does not fit (WAMR).
    const loaded = await modules.load(view.imageUrl);
    return { module: { file: loaded.bytes, imageUrl: view.imageUrl }, loaded };
  }

  /**
   * The task as of (at least) `event`: the follower's view once it has passed the event's sequence (no read),
   * else — a task it does not hold (finished, dropped past its bound) or a follower lagging past
   * `viewWaitMs` — folded from the task's history read back from the stream, as before the views existed.
   */
  async function taskViewAt(event: StoredEnvelope): Promise<{ view: TaskView | undefined; trace: string | null }> {
    if (await follower.reached(event.seq, viewWaitMs)) {
      const held = views.get(event.aggregateId);
      if (held !== undefined) return { view: held.view, trace: held.traceparent };
    }
    viewMisses += 1;
    const history = (await store.load('task', event.aggregateId)).events;
    return { view: foldTaskView(history), trace: history.findLast((e) => e.traceparent !== null)?.traceparent ?? null };
  }

  async function onScheduled(event: StoredEnvelope): Promise<void> {
    const d = event.data as { propletId: string; attempt: number; wireId: string };
    const ref = { taskId: event.aggregateId, wireId: d.wireId, propletId: d.propletId };
    const { view, trace } = await taskViewAt(event);
    // The placement loop schedules without the caller's trace; the task's own trace is the API request that made or started it.
    const traceparent = event.traceparent ?? trace;
    if (!startStillWanted(view, d.wireId) || view === undefined) {
      count('start', 'superseded');
      logger.debug({ ...ref }, 'start not sent: the attempt is no longer current');
      return;
    }
    const entry = directory.get(d.propletId);
    // The directory follows proplet events on its own consumer and may be a moment behind the scheduler: retry.
    if (entry === undefined) throw new Error(`proplet ${d.propletId} is not in the gateway's directory yet`);
    let module: StartModule;
    try {
      module = (await moduleFor(view)).module;
    } catch (e) {
      if (!isInvalid(e)) throw e;
      count('start', 'module_unavailable');
      await failAttempt(ref, e.message, traceparent);
      return;
    }
    const shaped = shapeStart({
      task: { id: view.taskId, name: view.functionName, inputs: view.inputs, cliArgs: view.cliArgs, env: view.env, daemon: view.daemon },
      attempt: d.attempt,
      target: targetOf(entry),
      module,
    });
    if (!shaped.ok) {
      count('start', shaped.reason);
      await failAttempt(ref, `cannot dispatch to proplet ${d.propletId}: ${shaped.message}`, traceparent);
      return;
    }
    // An ESP32 takes one registry chunk as the whole module: remember the channels where a WAMR start named image_url.
    if (entry.dialect === 'wamr' && shaped.message.image_url !== undefined) wamrChannels.add(channelKey(entry));
    await publish(shaped.topic, shaped.payload, traceparent);
    count('start', 'published');
    logger.debug({ ...ref, topic: shaped.topic, bytes: shaped.bytes }, 'start published');
    // Our proplets (the extension, recognised by per-proplet topics) say task_started themselves; for
    // upstream proplets the broker's PUBACK is the evidence (apps/scheduler/README.md "Running: who says so").
    if (!entry.perPropletTopics) {
      try {
        await command('task.recordDispatched', ref, traceparent);
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) logger.debug({ ...ref, err: (e as Error).message }, 'dispatch not recorded: the task moved on');
        else throw e;
      }
    }
  }

  async function sendStop(ref: AttemptRef, why: string, traceparent?: string | null): Promise<void> {
    const entry = directory.get(ref.propletId);
    if (entry === undefined) {
      logger.warn({ ...ref, why }, 'no stop sent: the proplet is not in the directory');
      return;
    }
    const shaped = shapeStop({ wireId: ref.wireId, target: targetOf(entry) });
    if (!shaped.ok) {
      logger.warn({ ...ref, why, reason: shaped.message }, 'no stop sent: cannot shape it');
      return;
    }
    await publish(shaped.topic, shaped.payload, traceparent);
    count('stop', why);
    logger.debug({ ...ref, topic: shaped.topic, why }, 'stop published');
  }

  async function onLeft(event: StoredEnvelope): Promise<void> {
    const d = (event.data ?? {}) as { wireId?: string; propletId?: string; fromPropletId?: string; attempt?: number; reason?: string };
    if (event.type === 'TaskFailed' && d.reason !== 'timeout') return;
    const propletId = d.fromPropletId ?? d.propletId;
    if (d.wireId === undefined || propletId === undefined) return;
    await sendStop({ taskId: event.aggregateId, wireId: d.wireId, propletId, attempt: d.attempt ?? 0 }, event.type === 'TaskEvacuated' ? 'evacuated' : event.type === 'TaskFailed' ? 'timeout' : event.type === 'TaskStopped' ? 'stopped' : 'deleted', event.traceparent);
  }

  /** The attempt a device's wire id names; for attempt 1 the wire id is the task id itself. */
  function resolve(wireId: string, ctx: InboxContext): AttemptRef | { taskId: string; wireId: string; propletId?: undefined } | undefined {
    const ref = attempts.lookup(wireId);
    if (ref !== undefined) return ref;
    if (isUuid(wireId)) return { taskId: wireId, wireId };
    if (ctx.lastTry) return undefined;
    throw new Error(`wire id ${wireId} is not known yet`);
  }

  async function relay<N extends 'task.recordResult' | 'task.recordStarted'>(name: N, data: CommandDataInput<N>, ctx: InboxContext): Promise<void> {
    try {
      await command(name, data);
      count(ctx.kind, 'relayed');
    } catch (e) {
      // NotFound for a uuid that names no task yet may be an attempt ≥ 2 the index has not seen: wait for it.
      if (isNotFound(e) && !ctx.lastTry && attempts.lookup(data.wireId) === undefined) throw e;
      if (isNotFound(e) || isInvalid(e) || isConflict(e)) {
        count(ctx.kind, 'refused');
        logger.warn({ wireId: data.wireId, taskId: data.taskId, err: (e as Error).message }, `${ctx.kind} dropped: the scheduler refused it`);
        return;
      }
      throw e;
    }
  }

  async function onInbox(raw: unknown, ctx: InboxContext): Promise<void> {
    const record = raw as InboxRecord;
    switch (ctx.kind) {
      case 'results': {
        const m = record.message as ResultMessage;
        const ref = resolve(m.task_id, ctx);
        if (ref === undefined) {
          count('results', 'unknown');
          logger.warn({ wireId: m.task_id }, 'result of an unknown wire id dropped');
          return;
        }
        const propletId = m.proplet_id ?? ref.propletId;
        const error = typeof m.error === 'string' && m.error !== '' ? { error: m.error } : {};
        await relay('task.recordResult', { taskId: ref.taskId, wireId: m.task_id, ...(propletId ? { propletId } : {}), results: (m.results ?? null) as never, ...error }, ctx);
        return;
      }
      case 'task_started': {
        const m = record.message as StartedMessage;
        // A short task's result follows its task_started within milliseconds: give it a moment to arrive
        // (first try only; the `running` of a longer task shows that much later).
        if (o.resultsInInbox !== undefined && ctx.attempt === 1 && startedGraceMs > 0 && !o.resultsInInbox.has(m.task_id)) {
          await new Promise((r) => setTimeout(r, startedGraceMs));
        }
        // The result of this attempt is durable in the inbox and the scheduler completes (or fails) a scheduled
        // task from its result, so telling it the attempt runs would only cost a command and a TaskRunning.
        if (o.resultsInInbox?.has(m.task_id) === true) {
          count('task_started', 'superseded');
          logger.debug({ wireId: m.task_id }, 'task_started not relayed: its result is already in the inbox');
          return;
        }
        const ref = resolve(m.task_id, ctx);
        if (ref === undefined) {
          count('task_started', 'unknown');
          logger.warn({ wireId: m.task_id }, 'task_started of an unknown wire id dropped');
          return;
        }
        await relay('task.recordStarted', { taskId: ref.taskId, wireId: m.task_id, propletId: m.proplet_id, ...(typeof m.attempt === 'number' ? { attempt: m.attempt } : {}) }, ctx);
        return;
      }
      case 'registry_request': {
        const m = record.message as RegistryRequest;
        let loaded: LoadedModule;
        try {
          loaded = await modules.load(m.app_name);
        } catch (e) {
          if (!isInvalid(e)) throw e;
          count('registry', 'refused');
          logger.warn({ appName: m.app_name, channelId: record.channelId, err: e.message }, 'registry request not answered');
          return;
        }
        const topic = topicsFor({ domainId: record.domainId, channelId: record.channelId, layout: record.layout }).registryChunk;
        const whole = wamrChannels.has(channelKey(record));
        const chunks = whole ? chunkModule(m.app_name, loaded.bytes, Math.max(1, loaded.bytes.byteLength)) : chunkModule(m.app_name, loaded.bytes);
        for (const chunk of chunks) await publish(topic, JSON.stringify(chunk));
        count('registry', 'answered');
        logger.debug({ appName: m.app_name, topic, digest: loaded.digest, bytes: loaded.bytes.byteLength }, 'registry request answered');
        return;
      }
      default: {
        const never: never = ctx.kind;
        return never;
      }
    }
  }

  const follower: TaskFollower = followTaskEvents(nc, names, attempts, (e) => logger.warn({ err: e }, 'task event follower failed; resuming'), views);
  let dispatch: ConsumerRunner | undefined;
  let inbox: InboxConsumer | undefined;
  let watcher: { stop(): void } | undefined;
  try {
    const maxTries = o.maxTries ?? 5;
    dispatch = await runConsumer({
      nc,
      names,
      name: DISPATCH_CONSUMER,
      filterSubject: names.eventFilter('task'),
      types: DISPATCH_EVENT_TYPES,
      maxDeliver: maxTries,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      handler: (event) => (event.type === 'TaskScheduled' ? onScheduled(event) : onLeft(event)),
      onDeadLetter: (l) => logger.error({ subject: l.subject, seq: l.seq, type: l.type, error: l.error.message }, 'dispatch gave up on an event (dead-lettered)'),
      onError: (e) => logger.warn({ err: e }, 'dispatch consumer error'),
    });
    inbox = await runInboxConsumer({
      nc,
      names,
      name: INBOX_CONSUMER,
      handler: onInbox,
      maxTries,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      onError: (e) => logger.warn({ err: e }, 'inbox consumer error'),
    });
    watcher = await watchReturns(await new Kvm(nc).open(names.kv.liveness), attempts, async (ref) => sendStop(ref, 'abandoned'), logger);
  } catch (e) {
    await Promise.allSettled([dispatch?.stop(), inbox?.stop(), follower.stop()]);
    throw e;
  }
  const running = { dispatch, inbox, watcher };
  return {
    attempts,
    viewMisses: () => viewMisses,
    ready: follower.caughtUp,
    async stop() {
      running.watcher.stop();
      await Promise.allSettled([running.dispatch.stop(), running.inbox.stop()]);
      await follower.stop();
    },
  };
}

/**
 * Sends stops for the abandoned attempts of a proplet when it is heard from again: a heartbeat (a
 * liveness write with `status: alive`). Every replica watches, so a stop may go out twice; a stop is
 * idempotent on the proplet (PROTOCOL.md "Delivery rules": every message can arrive twice).
 */
async function watchReturns(liveness: KV, attempts: AttemptIndex, stop: (ref: AttemptRef) => Promise<void>, logger: GatewayLogger): Promise<{ stop(): void }> {
  const iter = await liveness.watch({ key: PROPLET_LIVENESS_FILTER, include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
  const head = 'proplet.';
  void (async () => {
    for await (const e of iter) {
      try {
        const propletId = decodeKvToken(e.key.slice(head.length));
        if (!attempts.holdsAbandoned(propletId)) continue;
        const value = e.json<{ status?: string }>();
        if (value.status !== 'alive') continue;
        for (const ref of attempts.takeAbandoned(propletId)) {
          try {
            await stop(ref);
          } catch (err) {
            attempts.restoreAbandoned(ref);
            logger.warn({ ...ref, err }, 'cannot send the stop of an abandoned attempt; next beat tries again');
          }
        }
      } catch (err) {
        logger.warn({ key: e.key, err }, 'cannot stop the abandoned attempts of a returning proplet');
      }
    }
  })();
  return { stop: () => iter.stop() };
}
