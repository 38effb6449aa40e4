import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeIdToken, type NatsNames } from '@propeller/events';
import { typeHeader } from '@propeller/eventstore';
import type { AttemptIndex } from './attempt-index';
import { TRACE_EVENT_TYPES, VIEW_END_TYPES, VIEW_EVENT_TYPES, type TaskViews } from './task-view';

/** Task event types that move attempts (what `AttemptIndex.apply` reads). */
export const ATTEMPT_EVENT_TYPES: ReadonlySet<string> = new Set(['TaskScheduled', 'TaskEvacuated', 'TaskStopped', 'TaskDeleted', 'TaskFailed', 'TaskArchived']);

/** A running follower of the task events. */
export interface TaskFollower {
  /** Events applied so far. */
  applied(): number;
  /** Resolves once the follower has reached the end of the stream as it was at its first read. */
  readonly caughtUp: Promise<void>;
  /**
   * Resolves `true` once every task event up to stream sequence `seq` has been applied (at once when it
   * has), `false` after `timeoutMs` or on stop.
   */
  reached(seq: number, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Feeds the attempt index (and the task views, when given) with every task event from the start of the
 * stream, then live, through an ordered consumer (no durable state: every replica rebuilds its index at
 * start, as the directory does). Only the types they read are parsed (the type is a header). Resumes after
 * the last event seen when the consumer breaks.
 */
export function followTaskEvents(nc: NatsConnection, names: NatsNames, index: AttemptIndex, onError: (e: unknown) => void, views?: TaskViews): TaskFollower {
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let applied = 0;
  let lastSeq = 0;
  let markCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (markCaughtUp = r));
  // Waiters of `reached` (one per start in flight), by sequence, settled from the front as the follower passes them.
  type Waiter = { seq: number; settle: (ok: boolean) => void };
  const waiters: Waiter[] = [];
  const passed = (): void => {
    while (waiters.length > 0 && (waiters[0] as Waiter).seq <= lastSeq) (waiters[0] as Waiter).settle(true);
  };
  const decoder = new TextDecoder();
  // `<p>.events.task.<id token>`: the task id of an event without parsing it.
  const subjectHead = names.eventFilter('task').slice(0, -1);
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
          // Read from the raw header block: decoding every header of every task event costs more than the rest here.
          const type = typeHeader(m) || undefined;
          const forIndex = type !== undefined && ATTEMPT_EVENT_TYPES.has(type);
          const forViews = views !== undefined && type !== undefined && (VIEW_EVENT_TYPES.has(type) || TRACE_EVENT_TYPES.has(type));
          const ends = views !== undefined && type !== undefined && VIEW_END_TYPES.has(type);
          if (forIndex || forViews || ends) {
            try {
              if (ends) views.forget(decodeIdToken(m.subject.slice(subjectHead.length)));
              if (forIndex || forViews) {
                const event = JSON.parse(decoder.decode(m.data)) as { type: string; aggregateId: string; data: unknown; traceparent?: string | null };
                if (forIndex) index.apply(event);
                if (forViews) views.apply(event);
              }
              applied += 1;
            } catch (e) {
              onError(e);
            }
          }
          lastSeq = m.seq;
          if (waiters.length > 0) passed();
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
    reached(seq, timeoutMs) {
      if (seq <= lastSeq) return Promise.resolve(true);
      if (stopped) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const w: Waiter = {
          seq,
          settle: (ok: boolean): void => {
            clearTimeout(timer);
            const at = waiters.indexOf(w);
            if (at >= 0) waiters.splice(at, 1);
            resolve(ok);
          },
        };
        const timer = setTimeout(() => w.settle(false), timeoutMs);
        // Starts arrive in stream order, so this is nearly always the end.
        let at = waiters.length;
        while (at > 0 && (waiters[at - 1] as Waiter).seq > seq) at -= 1;
        waiters.splice(at, 0, w);
      });
    },
    async stop() {
      stopped = true;
      messages?.stop();
      markCaughtUp();
      for (const w of [...waiters]) w.settle(false);
      await loop;
    },
  };
}
