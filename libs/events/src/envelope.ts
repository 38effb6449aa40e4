import { z } from 'zod';

/** NATS header carrying the event type, so consumers skip unwanted types without parsing. */
export const HEADER_TYPE = 'Propeller-Type';
/** NATS header carrying the event's schema version. */
export const HEADER_SCHEMA = 'Propeller-Schema';

/** Aggregates that own an event subject. */
export const AGGREGATES = ['proplet', 'task', 'site'] as const;
/** `proplet`, `task` or `site`. */
export type AggregateName = (typeof AGGREGATES)[number];

/**
 * The envelope every event travels in. `id` is a UUID and also the JetStream message id,
 * so a retried publish is stored once.
 */
export const EnvelopeSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1),
  schemaVersion: z.number().int().positive(),
  aggregate: z.string().min(1),
  aggregateId: z.string().min(1),
  occurredAt: z.iso.datetime({ offset: true }),
  correlationId: z.string().min(1),
  causationId: z.string().nullable(),
  traceparent: z.string().nullable(),
  data: z.unknown(),
});

/** The envelope's TypeScript shape; `EventEnvelope` ties `type` to `data`. */
export interface Envelope<T extends string = string, D = unknown> {
  id: string;
  type: T;
  schemaVersion: number;
  aggregate: string;
  aggregateId: string;
  occurredAt: string;
  correlationId: string;
  causationId: string | null;
  traceparent: string | null;
  data: D;
}

/** An envelope as read back from the stream, with its position. */
export interface StoredEnvelope<T extends string = string, D = unknown> extends Envelope<T, D> {
  /** Stream sequence (global position). */
  seq: number;
}

/** Metadata a command carries into the events it causes. */
export interface EventMeta {
  correlationId: string;
  causationId?: string | null;
  traceparent?: string | null;
}

/** The headers an event is published with (a plain record; the NATS adapter turns it into `MsgHdrs`). */
export interface EventHeaders {
  [HEADER_TYPE]: string;
  [HEADER_SCHEMA]: string;
}

/** `{ 'Propeller-Type': type, 'Propeller-Schema': String(schemaVersion) }` for one envelope. */
export function eventHeaders(envelope: Pick<Envelope, 'type' | 'schemaVersion'>): EventHeaders {
  return { [HEADER_TYPE]: envelope.type, [HEADER_SCHEMA]: String(envelope.schemaVersion) };
}
