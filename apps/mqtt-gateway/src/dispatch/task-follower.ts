import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { HEADER_TYPE, type NatsNames } from '@propeller/events';
import type { AttemptIndex } from './attempt-index';

/** Task event types that move attempts (what `AttemptIndex.apply` reads). */
export const ATTEMPT_EVENT_TYPES: ReadonlySet<string> = new Set(['TaskScheduled', 'TaskEvacuated', 'TaskStopped', 'TaskDeleted', 'TaskFailed', 'TaskArchived']);

/** A running follower of the task events. */
export interface TaskFollower {
  /** Events applied so far. */
  applied(): number;
  /** Resolves once the follower has reached the end of the stream as it was at its first read. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Feeds the attempt index with every task event from the start of the stream, then live, through an
 * ordered consumer (no durable state: every replica rebuilds its index at start, as the directory does).
 * Resumes after the last event seen when the consumer breaks.
 */
export function followTaskEvents(nc: NatsConnection, names: NatsNames, index: AttemptIndex, onError: (e: unknown) => void): TaskFollower {
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let applied = 0;
  let lastSeq = 0;
  let markCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (markCaughtUp = r));
  const decoder = new TextDecoder();
  const loop = (async () => {
    while (!stopped) {
      try {
        const consumer = await jetstream(nc).consumers.get(names.stream, {
          filter_subjects: names.eventFilter('task'),
          ...(lastSeq === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }),
        });
        // An empty history delivers nothing: ask how much there is before waiting for messages.
        if ((await consumer.info()).num_pending === 0) markCaughtUp();
        messages = await consumer.consume();
        if (stopped) messages.stop();
        for await (const m of messages) {
          lastSeq = m.seq;
          const type = m.headers?.get(HEADER_TYPE);
          if (type && ATTEMPT_EVENT_TYPES.has(type)) {
            try {
              index.apply(JSON.parse(decoder.decode(m.data)) as { type: string; aggregateId: string; data: unknown });
              applied += 1;
            } catch (e) {
              onError(e);
            }
          }
          if (m.info.pending === 0) markCaughtUp();
        }
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
    caughtUp,
    async stop() {
      stopped = true;
      messages?.stop();
      markCaughtUp();
      await loop;
    },
  };
}
