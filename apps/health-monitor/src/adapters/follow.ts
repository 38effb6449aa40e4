import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { HEADER_TYPE, parseStoredEvent, type AggregateName, type EventEnvelope, type NatsNames, type StoredEnvelope } from '@propeller/events';

/** A running follower of one aggregate's events. */
export interface Follower {
  /** Resolves once every event stored when the follower started has been handled. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/** Options of `followEvents`. */
export interface FollowOptions {
  nc: NatsConnection;
  names: NatsNames;
  aggregate: AggregateName;
  /** Event types to handle; others are skipped on the `Propeller-Type` header without parsing. */
  types: ReadonlySet<string>;
  onEvent(event: EventEnvelope): void;
  /** An event that cannot be parsed is reported here and skipped: the judge keeps running on what it knows. */
  onError(error: unknown, seq: number): void;
}

/**
 * Reads every event of one aggregate from the start of the stream, in order, with an ordered
 * consumer (nothing durable: the monitor keeps no state it cannot rebuild), and keeps following.
 */
export async function followEvents(o: FollowOptions): Promise<Follower> {
  const filter = o.names.eventFilter(o.aggregate);
  const jsm = await jetstreamManager(o.nc);
  const info = await jsm.streams.info(o.names.stream, { subjects_filter: filter });
  let stored = 0;
  for (const n of Object.values(info.state.subjects ?? {})) stored += n;

  let markCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (markCaughtUp = r));
  if (stored === 0) markCaughtUp();

  const consumer = await jetstream(o.nc).consumers.get(o.names.stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  const messages: ConsumerMessages = await consumer.consume();
  const done = (async () => {
    for await (const m of messages) {
      const type = m.headers?.get(HEADER_TYPE);
      if (type !== undefined && o.types.has(type)) {
        try {
          o.onEvent(parseStoredEvent({ ...m.json<StoredEnvelope>(), seq: m.seq }));
        } catch (e) {
          o.onError(e, m.seq);
        }
      }
      if (m.info.pending === 0) markCaughtUp();
    }
  })();
  return {
    caughtUp,
    async stop() {
      messages.stop();
      await done.catch(() => undefined);
    },
  };
}
