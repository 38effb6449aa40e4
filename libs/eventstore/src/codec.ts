import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { EnvelopeSchema, HEADER_SCHEMA, HEADER_TYPE, InternalError, type Envelope, type StoredEnvelope } from '@propeller/events';

const decoder = new TextDecoder();

/** Serialises an envelope for the log (JSON; the bytes are what projections read back). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  // Buffer.from takes small strings out of Node's shared pool (TextEncoder allocates a fresh
  // ArrayBuffer per call, about twice the cost); the caller gets a plain Uint8Array view of it.
  const bytes = Buffer.from(JSON.stringify(envelope), 'utf8');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The headers every event carries, so consumers can filter by type without parsing. */
export function envelopeHeaders(envelope: Envelope): MsgHdrs {
  // A fresh object per message (the publish adds its message id and expectations to it), so append:
  // set would first look for a value to replace.
  const h = headers();
  h.append(HEADER_TYPE, envelope.type);
  h.append(HEADER_SCHEMA, String(envelope.schemaVersion));
  return h;
}

/**
 * Reads an envelope back from stored bytes. A message that is not an envelope is a corrupt log,
 * reported as `Internal` with its sequence, never skipped.
 */
export function decodeEnvelope(data: Uint8Array, seq: number): StoredEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new InternalError(`event at sequence ${seq} is not JSON`, { cause: e, details: { seq } });
  }
  const stored = readEnvelope(raw, seq);
  if (stored) return stored;
  // Not the common shape: zod decides (and names the field when it is not an envelope).
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InternalError(`event at sequence ${seq} is not an envelope: ${parsed.error.message}`, { details: { seq } });
  }
  return { ...(parsed.data as Envelope), seq };
}

/** The pattern a string field of `EnvelopeSchema` is checked against (`null` when it has none we can read). */
function fieldPattern(field: 'id' | 'occurredAt'): RegExp | null {
  const pattern = (EnvelopeSchema.shape[field] as unknown as { _zod?: { def?: { pattern?: unknown } } })._zod?.def?.pattern;
  return pattern instanceof RegExp && !pattern.global && !pattern.sticky ? pattern : null;
}

// The schema's own patterns, so the fast check accepts exactly what the schema accepts.
const ID_PATTERN = fieldPattern('id');
const OCCURRED_AT_PATTERN = fieldPattern('occurredAt');

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isTextOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

/**
 * `EnvelopeSchema.parse` without zod's per-field machinery, for the envelopes every consumer reads
 * (the catalog parse, `parseStoredEvent`, validates the envelope again and its data). Returns `null`
 * for anything it does not accept (then `EnvelopeSchema` decides); never accepts what the schema
 * refuses. Like the schema, it keeps only the envelope's fields.
 */
export function readEnvelope(raw: unknown, seq: number): StoredEnvelope | null {
  if (ID_PATTERN === null || OCCURRED_AT_PATTERN === null) return null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const { id, type, schemaVersion, aggregate, aggregateId, occurredAt, correlationId, causationId, traceparent } = r;
  if (
    !isText(id) ||
    !ID_PATTERN.test(id) ||
    !isText(type) ||
    typeof schemaVersion !== 'number' ||
    !Number.isSafeInteger(schemaVersion) ||
    schemaVersion <= 0 ||
    !isText(aggregate) ||
    !isText(aggregateId) ||
    typeof occurredAt !== 'string' ||
    !OCCURRED_AT_PATTERN.test(occurredAt) ||
    !isText(correlationId) ||
    !isTextOrNull(causationId) ||
    !isTextOrNull(traceparent) ||
    !('data' in r)
  ) {
    return null;
  }
  return { id, type, schemaVersion, aggregate, aggregateId, occurredAt, correlationId, causationId, traceparent, data: r.data, seq };
}
