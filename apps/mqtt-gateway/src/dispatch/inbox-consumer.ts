import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { decodeIdToken, type InboxKind, type NatsNames } from '@propeller/events';
import { backoffDelay, DEFAULT_BACKOFF, describeError, HeldMessages, KeyedQueue, publishDeadLetter, type Backoff } from '@propeller/eventstore';

/** Context of one inbox message handed to the handler. */
export interface InboxContext {
  kind: InboxKind;
  /** The wire id (results, task_started) or channel id (registry requests) of the subject. */
  subject: string;
  seq: number;
  /** 1 on the first try. */
  attempt: number;
  /** True on the last try: a handler that waits for something (the attempt index) gives up quietly here. */
  lastTry: boolean;
}

/** Handles one inbox record; throwing means "try again later". */
export type InboxHandler = (record: unknown, ctx: InboxContext) => Promise<void>;

/** Options of `runInboxConsumer`. */
export interface InboxConsumerOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** Durable name (`names.durable(name)`); dead letters go to `names.dlqSubject(name)`. */
  name: string;
  handler: InboxHandler;
  /** Tries per message before it is dead-lettered (default 5). */
  maxTries?: number;
  /** Delays between tries (default 200 ms, 1 s, 2 s, 5 s). */
  backoff?: Backoff;
  /** Default 30 s; kept alive while a message waits or backs off. */
  ackWaitMs?: number;
  onError?: (e: unknown) => void;
}

/** A running inbox consumer. */
export interface InboxConsumer {
  /** Messages handled (acked after a success or a dead letter). */
  handled(): number;
  stop(): Promise<void>;
}

const KINDS: ReadonlySet<string> = new Set(['results', 'task_started', 'registry_request']);

/**
 * Consumes `<P>_INBOX` (the gateway's durable buffer of results, task_started and registry requests)
 * with a durable pull consumer and explicit acks, so a scheduler outage loses nothing: a message is
 * acked only once its command was answered, or dead-lettered after `maxTries`. `runConsumer` of the
 * eventstore reads only the event stream and only envelopes, hence this twin with the same rules:
 * messages of one subject (one wire id) in order, other subjects concurrently.
 */
export async function runInboxConsumer(o: InboxConsumerOptions): Promise<InboxConsumer> {
  const { nc, names, name, handler } = o;
  const maxTries = o.maxTries ?? 5;
  const backoff = o.backoff ?? DEFAULT_BACKOFF;
  const ackWaitMs = o.ackWaitMs ?? 30_000;
  const durable = names.durable(name);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  try {
    await jsm.consumers.info(names.inboxStream, durable);
  } catch {
    await jsm.consumers.add(names.inboxStream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${names.prefix}.inbox.>`,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
      max_ack_pending: 1_000,
    });
  }
  const consumer = await js.consumers.get(names.inboxStream, durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });
  const queue = new KeyedQueue();
  const decoder = new TextDecoder();
  const head = `${names.prefix}.inbox.`;
  let handled = 0;
  let stopping = false;
  // Held messages (queued behind their key, handled or backing off), kept alive by one sweep timer.
  const inProcess = new HeldMessages(ackWaitMs);

  const handle = async (m: JsMsg): Promise<void> => {
    try {
      const [kind, ...rest] = m.subject.slice(head.length).split('.');
      let record: unknown;
      let id: string;
      try {
        if (kind === undefined || !KINDS.has(kind)) throw new Error(`subject ${m.subject} is not an inbox kind`);
        id = decodeIdToken(rest.join('.'));
        record = JSON.parse(decoder.decode(m.data));
      } catch (e) {
        return await deadLetter(m, e, 0);
      }
      for (let attempt = 1; ; attempt++) {
        if (stopping) return m.nak();
        try {
          await handler(record, { kind: kind as InboxKind, subject: id, seq: m.seq, attempt, lastTry: attempt >= maxTries });
          handled++;
          return m.ack();
        } catch (e) {
          if (attempt >= maxTries) return await deadLetter(m, e, attempt);
          await new Promise((r) => setTimeout(r, backoffDelay(backoff, attempt)));
        }
      }
    } finally {
      inProcess.release(m.seq);
    }
  };

  const deadLetter = async (m: JsMsg, error: unknown, attempts: number): Promise<void> => {
    try {
      await publishDeadLetter(js, names, {
        consumer: name,
        subject: m.subject,
        seq: m.seq,
        type: null,
        envelope: null,
        raw: decoder.decode(m.data),
        error: describeError(error),
        attempts,
        deadAt: new Date().toISOString(),
      });
      handled++;
      m.ack();
    } catch (e) {
      o.onError?.(e);
      m.nak(1_000);
    }
  };

  const loop = (async () => {
    for await (const m of messages) {
      if (inProcess.has(m.seq)) continue;
      inProcess.hold(m);
      void queue.push(m.subject, () => handle(m)).catch((e: unknown) => o.onError?.(e));
    }
  })().catch((e: unknown) => o.onError?.(e));

  return {
    handled: () => handled,
    async stop() {
      stopping = true;
      await messages.close().catch(() => undefined);
      await loop;
      await queue.idle();
      inProcess.stop();
    },
  };
}
