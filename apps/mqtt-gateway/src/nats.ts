import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { encodeKvToken, HEADER_TYPE, isInternal, type InboxKind, type NatsNames } from '@propeller/events';
import { ensureStream } from '@propeller/eventstore';
import type { PropletDirectory } from './directory';

/** How long the inbox stream keeps device messages nobody has consumed yet (7 days). */
export const INBOX_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Byte bound of the inbox stream; past it publishes are refused (counted), never silently dropped (1 GiB). */
export const INBOX_MAX_BYTES = 1024 ** 3;

/**
 * Creates or converges the inbox stream `<P>_INBOX` (`<p>.inbox.>`), where results, task_started and
 * registry requests wait until the tasks issue consumes them. Gateway-local until `provision` owns it.
 */
export async function ensureInbox(nc: NatsConnection, names: NatsNames, replicas = 1): Promise<string> {
  const jsm = await jetstreamManager(nc);
  return ensureStream(jsm, {
    name: names.inboxStream,
    subjects: [`${names.prefix}.inbox.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: replicas,
    max_age: nanos(INBOX_MAX_AGE_MS),
    max_bytes: INBOX_MAX_BYTES,
    discard: DiscardPolicy.New,
  });
}

/** Key of a metrics sample in `<p>_metrics`: `proplet.<id>` or `task.<id>` (ids encoded with `encodeKvToken`). */
export const metricsKvKey = (scope: 'proplet' | 'task', id: string): string => `${scope}.${encodeKvToken(id, scope === 'task' ? 'taskId' : 'propletId')}`;

/** Retries `fn` after the delays given (default 100 ms, 500 ms, 1 s); a typed refusal (`!retryable`) is thrown at once. */
export async function withRetry<T>(fn: () => Promise<T>, retryable: (e: unknown) => boolean, delays: readonly number[] = [100, 500, 1_000]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const delay = delays[attempt];
      if (delay === undefined || !retryable(e)) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** A command refused by its service (Invalid, Conflict...) is final; unreachable or internal failures are retried. */
export const isRetryableCommandError = (e: unknown): boolean => isInternal(e) || !(e instanceof Error && 'code' in e);

/** The KV buckets the gateway writes. */
export interface GatewayBuckets {
  liveness: KV;
  metrics: KV;
}

/** Opens the liveness and metrics buckets (provisioned by `provision`). */
export async function openBuckets(nc: NatsConnection, names: NatsNames): Promise<GatewayBuckets> {
  const kvm = new Kvm(nc);
  const [liveness, metrics] = await Promise.all([kvm.open(names.kv.liveness), kvm.open(names.kv.metrics)]);
  return { liveness, metrics };
}

// One JetStream client per connection, not one per message.
const clients = new WeakMap<NatsConnection, JetStreamClient>();
const js = (nc: NatsConnection): JetStreamClient => {
  let c = clients.get(nc);
  if (c === undefined) clients.set(nc, (c = jetstream(nc)));
  return c;
};

/** Publishes into the inbox stream; the message id makes an MQTT redelivery a JetStream duplicate. */
export async function publishInbox(nc: NatsConnection, names: NatsNames, kind: InboxKind, id: string, msgId: string, record: unknown): Promise<void> {
  await js(nc).publish(names.inboxSubject(kind, id), JSON.stringify(record), { msgID: msgId });
}

/** Publishes a metrics sample to the history stream (`<P>_METRICS`). */
export async function publishMetricsHistory(nc: NatsConnection, names: NatsNames, scope: 'proplet' | 'task', id: string, record: unknown): Promise<void> {
  await js(nc).publish(names.metricsSubject(scope, id), JSON.stringify(record));
}

/** A running follower of the proplet events. */
export interface EventFollower {
  stop(): Promise<void>;
  /** Events applied so far. */
  readonly applied: () => number;
}

/**
 * Feeds the directory with every proplet event, from the beginning of the stream and then live, through an
 * ordered consumer (no durable state: every replica rebuilds its directory at start). Reconnects after a failure.
 */
export function followPropletEvents(nc: NatsConnection, names: NatsNames, directory: PropletDirectory, onError: (e: unknown) => void): EventFollower {
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let applied = 0;
  let lastSeq = 0;
  const decoder = new TextDecoder();
  const loop = (async () => {
    while (!stopped) {
      try {
        const consumer = await jetstream(nc).consumers.get(names.stream, {
          filter_subjects: names.eventFilter('proplet'),
          ...(lastSeq === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }),
        });
        messages = await consumer.consume();
        if (stopped) messages.stop();
        for await (const m of messages) {
          lastSeq = m.seq;
          const type = m.headers?.get(HEADER_TYPE);
          if (type !== 'PropletRegistered' && type !== 'PropletUpdated' && type !== 'PropletDeregistered') continue;
          try {
            const env = JSON.parse(decoder.decode(m.data)) as { type: string; aggregateId: string; data: unknown };
            directory.apply({ ...env, seq: m.seq });
            applied += 1;
          } catch (e) {
            onError(e);
          }
        }
        // The iterator ended without a stop (the consumer was reset): start again after the last event seen.
        if (!stopped) await new Promise((r) => setTimeout(r, 1_000));
      } catch (e) {
        if (stopped) return;
        onError(e);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  })();
  return {
    applied: () => applied,
    async stop() {
      stopped = true;
      messages?.stop();
      await loop;
    },
  };
}
