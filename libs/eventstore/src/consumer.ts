import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerConfig, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { HEADER_TYPE, InternalError, type NatsNames, type StoredEnvelope } from '@propeller/events';
import { decodeEnvelope } from './codec';
import { describeError, publishDeadLetter, replayDeadLetter, type DeadLetter, type EventHandler, type StoredDeadLetter } from './dead-letters';
import { backoffDelay, DEFAULT_BACKOFF, KeyedQueue, type Backoff } from './keyed-queue';
import { typeHeader } from './type-header';
import { HeldMessages } from './held-messages';

/** Options of `runConsumer`. */
export interface RunConsumerOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** Consumer name: durable `names.durable(name)`, dead letters on `names.dlqSubject(name)`. */
  name: string;
  /** Subject filter (default the whole event stream, `names.streamSubjects`). */
  filterSubject?: string;
  /** Event types to handle; others are acked by their `Propeller-Type` header without parsing. Default all. */
  types?: readonly string[];
  handler: EventHandler;
  /** Tries per event before it is dead-lettered (default 5). */
  maxDeliver?: number;
  /**
   * Server deliveries after which an event is dead-lettered without another try (default 10). The
   * server redelivers only what a runner left unacked past ack_wait (hand-backs on stop do not
   * count), so this bounds an event whose handler kills its own process.
   */
  maxRedeliveries?: number;
  /** Delays between tries (default 200 ms, 1 s, 2 s, 5 s). */
  backoff?: Backoff;
  /** Where a new durable starts (default `all`: from the beginning of the stream). */
  deliverPolicy?: 'all' | 'new';
  /** How long the server waits for an ack before redelivering (default 30 s; kept alive while queued). */
  ackWaitMs?: number;
  /** Unacked events in flight across all aggregates (default 1,000). */
  maxAckPending?: number;
  /** Called after an event was dead-lettered (logging, metrics). */
  onDeadLetter?: (letter: DeadLetter) => void;
  /** Called with failures of the runner itself (dead-letter publish failed, consume loop broke). */
  onError?: (error: unknown) => void;
}

/** Counters of a running consumer. */
export interface ConsumerStats {
  handled: number;
  skipped: number;
  deadLettered: number;
  failedTries: number;
  /** Server redeliveries of events still being handled here (ignored; a sign ack_wait is too short). */
  redeliveredInFlight: number;
}

/** A running process-manager consumer. */
export interface ConsumerRunner {
  readonly name: string;
  stats(): ConsumerStats;
  /** Replays one of this consumer's dead letters through its handler. */
  replay(dlqSeq: number): Promise<StoredDeadLetter>;
  /** Stops pulling, lets running handlers finish, hands queued events back to the server. */
  stop(): Promise<void>;
  /** Settles when the runner has stopped. */
  readonly done: Promise<void>;
}

/**
 * Runs a process manager on a durable pull consumer with explicit acks. Events of one aggregate
 * (one subject) are handled in stream order: a later event waits while an earlier one is retried
 * with backoff; other aggregates go on meanwhile. After `maxDeliver` failed tries an event is
 * published to the consumer's dead-letter subject with its error and acked, and the runner goes on.
 */
export async function runConsumer(opts: RunConsumerOptions): Promise<ConsumerRunner> {
  const { nc, names, name, handler } = opts;
  const maxDeliver = opts.maxDeliver ?? 5;
  const maxRedeliveries = opts.maxRedeliveries ?? 10;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const types = opts.types ? new Set(opts.types) : null;
  const durable = names.durable(name);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  const desired: Partial<ConsumerConfig> = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: opts.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: opts.filterSubject ?? names.streamSubjects,
    ack_wait: nanos(ackWaitMs),
    // Retries are counted here, in order; the server only redelivers what a dead runner left.
    max_deliver: -1,
    max_ack_pending: opts.maxAckPending ?? 1_000,
  };
  await ensureConsumer(jsm, names.stream, durable, desired);
  const consumer = await js.consumers.get(names.stream, durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });

  const stats: ConsumerStats = { handled: 0, skipped: 0, deadLettered: 0, failedTries: 0, redeliveredInFlight: 0 };
  const queue = new KeyedQueue();
  // Held messages (queued behind their key, handled or backing off), kept alive by one sweep timer.
  const inProcess = new HeldMessages(ackWaitMs);
  let stopping = false;
  const wakeups = new Set<() => void>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        wakeups.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      wakeups.add(done);
    });

  const handle = async (m: JsMsg): Promise<void> => {
    try {
      if (stopping) return m.nak();
      let event: StoredEnvelope;
      try {
        event = decodeEnvelope(m.data, m.seq);
      } catch (e) {
        // An event that cannot be read will not become readable by retrying.
        return await deadLetter(m, null, e, 0);
      }
      if (types && !types.has(event.type)) {
        stats.skipped++;
        return m.ack();
      }
      if (m.info.deliveryCount > maxRedeliveries) {
        const error = new InternalError(`delivered ${m.info.deliveryCount} times without an outcome; its handler may stop the process`);
        return await deadLetter(m, event, error, 0);
      }
      for (let attempt = 1; ; attempt++) {
        try {
          await handler(event, { subject: m.subject, seq: m.seq, attempt, aggregate: event.aggregate, aggregateId: event.aggregateId, replay: false });
          stats.handled++;
          return m.ack();
        } catch (e) {
          stats.failedTries++;
          if (attempt >= maxDeliver) return await deadLetter(m, event, e, attempt);
          await sleep(backoffDelay(backoff, attempt));
          // Stopped while backing off: hand it back so the next runner tries it in order.
          if (stopping) return m.nak();
        }
      }
    } finally {
      inProcess.release(m.seq);
    }
  };

  const deadLetter = async (m: JsMsg, event: StoredEnvelope | null, error: unknown, attempts: number): Promise<void> => {
    const letter: DeadLetter = {
      consumer: name,
      subject: m.subject,
      seq: m.seq,
      type: m.headers?.get(HEADER_TYPE) || event?.type || null,
      envelope: event,
      ...(event ? {} : { raw: new TextDecoder().decode(m.data) }),
      error: describeError(error),
      attempts,
      deadAt: new Date().toISOString(),
    };
    // The aggregate's later events wait until the letter is safely stored, so keep trying.
    for (let publishTry = 1; ; publishTry++) {
      try {
        await publishDeadLetter(js, names, letter);
        break;
      } catch (e) {
        opts.onError?.(e);
        if (stopping) return m.nak();
        await sleep(backoffDelay(backoff, publishTry));
        if (stopping) return m.nak();
      }
    }
    stats.deadLettered++;
    m.ack();
    opts.onDeadLetter?.(letter);
  };

  const loop = (async () => {
    for await (const m of messages) {
      // A redelivery of an event we still hold (ack_wait raced keep-alive) must not run twice.
      if (inProcess.has(m.seq)) {
        stats.redeliveredInFlight++;
        continue;
      }
      // Read from the header block as it came: most of a filtered consumer's events end here.
      const type = types ? typeHeader(m) : '';
      if (types && type && !types.has(type)) {
        stats.skipped++;
        m.ack();
        continue;
      }
      // Kept alive by the sweep from now on, while the event waits behind its aggregate or backs off.
      inProcess.hold(m);
      void queue.push(m.subject, () => handle(m)).catch((e: unknown) => opts.onError?.(e));
    }
  })().catch((e: unknown) => opts.onError?.(e));

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      await messages.close().catch(() => undefined);
      await loop;
      for (const wake of [...wakeups]) wake();
      await queue.idle();
      inProcess.stop();
    })();
    return stopped;
  };
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  void loop.then(async () => {
    if (!stopping) await stop();
    resolveDone();
  });

  return {
    name,
    stats: () => ({ ...stats }),
    replay: (dlqSeq) => replayDeadLetter(nc, names, name, dlqSeq, handler),
    stop: async () => {
      await stop();
      await done;
    },
    done,
  };
}

async function ensureConsumer(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  stream: string,
  durable: string,
  desired: Partial<ConsumerConfig>,
): Promise<void> {
  let live: ConsumerConfig | null = null;
  try {
    live = (await jsm.consumers.info(stream, durable)).config;
  } catch (e) {
    if ((e as { code?: unknown }).code !== 10014 && (e as Error).name !== 'ConsumerNotFoundError') throw e;
  }
  if (!live) {
    await jsm.consumers.add(stream, desired);
    return;
  }
  const liveRec = live as unknown as Record<string, unknown>;
  const updatable = ['filter_subject', 'ack_wait', 'max_deliver', 'max_ack_pending'] as const;
  const drift = updatable.filter((k) => JSON.stringify(liveRec[k]) !== JSON.stringify(desired[k]));
  if (drift.length > 0) {
    await jsm.consumers.update(stream, durable, Object.fromEntries(drift.map((k) => [k, desired[k]])));
  }
}
