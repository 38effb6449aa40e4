import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import {
  HEADER_TYPE,
  InvalidError,
  NotFoundError,
  toWireError,
  type NatsNames,
  type StoredEnvelope,
  type WireError,
} from '@propeller/events';
import { readSubject } from './read-subject';

/** Header naming the error code of a dead letter, so tools can filter without parsing. */
export const HEADER_DLQ_ERROR = 'Propeller-Dlq-Error';
/** Header with the original stream sequence of a dead letter. */
export const HEADER_DLQ_SEQ = 'Propeller-Dlq-Seq';

/** One event a process manager gave up on, as kept in `<p>.dlq.<consumer>`. */
export interface DeadLetter {
  consumer: string;
  /** The event's original subject and stream sequence. */
  subject: string;
  seq: number;
  type: string | null;
  /** The event, or `null` when it could not be read as an envelope (then `raw` holds it). */
  envelope: StoredEnvelope | null;
  raw?: string;
  error: WireError & { name?: string; stack?: string };
  attempts: number;
  deadAt: string;
}

/** A dead letter with its position in the dead-letter stream (what `replayDeadLetter` takes). */
export interface StoredDeadLetter extends DeadLetter {
  dlqSeq: number;
}

/** Context handed to an event handler. */
export interface HandlerContext {
  subject: string;
  seq: number;
  /** 1 on the first try. */
  attempt: number;
  aggregate: string;
  aggregateId: string;
  /** True when run by `replayDeadLetter`. */
  replay: boolean;
}

/** A process manager's reaction to one event; throwing means "try again later". */
export type EventHandler = (event: StoredEnvelope, ctx: HandlerContext) => Promise<void> | void;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Describes an error for the dead-letter record: its wire shape plus name and stack. */
export function describeError(e: unknown): DeadLetter['error'] {
  const wire = toWireError(e);
  return e instanceof Error ? { ...wire, name: e.name, ...(e.stack ? { stack: e.stack } : {}) } : wire;
}

/**
 * Publishes a dead letter to `<p>.dlq.<consumer>`. Its message id is `<durable>.<seq>`, so a
 * runner that dies between this publish and its ack stores the letter once.
 */
export async function publishDeadLetter(js: JetStreamClient, names: NatsNames, letter: DeadLetter): Promise<number> {
  const h = headers();
  if (letter.type) h.set(HEADER_TYPE, letter.type);
  h.set(HEADER_DLQ_ERROR, letter.error.code);
  h.set(HEADER_DLQ_SEQ, String(letter.seq));
  const ack = await js.publish(names.dlqSubject(letter.consumer), encoder.encode(JSON.stringify(letter)), {
    msgID: `${names.durable(letter.consumer)}.${letter.seq}`,
    headers: h,
  });
  return ack.seq;
}

/** Every dead letter of one consumer, oldest first. */
export async function listDeadLetters(nc: NatsConnection, names: NatsNames, consumer: string): Promise<StoredDeadLetter[]> {
  const letters: StoredDeadLetter[] = [];
  await readSubject(jetstream(nc), await jetstreamManager(nc), names.dlqStream, names.dlqSubject(consumer), 0, (m) => {
    letters.push({ ...(JSON.parse(decoder.decode(m.data)) as DeadLetter), dlqSeq: m.seq });
  });
  return letters;
}

/**
 * Runs `handler` once more on a dead letter (after the operator fixed the cause) and removes it
 * from the dead-letter stream when it succeeds; when it throws, the letter stays and the error
 * propagates. The replayed event runs after later events of its aggregate: that order was already
 * given up when it was dead-lettered.
 */
export async function replayDeadLetter(
  nc: NatsConnection,
  names: NatsNames,
  consumer: string,
  dlqSeq: number,
  handler: EventHandler,
): Promise<StoredDeadLetter> {
  const jsm = await jetstreamManager(nc);
  const stored = await jsm.streams.getMessage(names.dlqStream, { seq: dlqSeq });
  if (!stored || stored.subject !== names.dlqSubject(consumer)) {
    throw new NotFoundError(`no dead letter ${dlqSeq} for consumer ${consumer}`, { details: { consumer, dlqSeq } });
  }
  const letter: StoredDeadLetter = { ...(JSON.parse(decoder.decode(stored.data)) as DeadLetter), dlqSeq };
  if (!letter.envelope) {
    throw InvalidError.field('envelope', letter.raw, 'a dead letter that is not an envelope cannot be replayed');
  }
  const { aggregate, aggregateId } = letter.envelope;
  await handler(letter.envelope, { subject: letter.subject, seq: letter.seq, attempt: 1, aggregate, aggregateId, replay: true });
  await jsm.streams.deleteMessage(names.dlqStream, dlqSeq, false);
  return letter;
}
