import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { EnvelopeSchema, HEADER_SCHEMA, HEADER_TYPE, InternalError, type Envelope, type StoredEnvelope } from '@propeller/events';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Serialises an envelope for the log (JSON; the bytes are what projections read back). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/** The headers every event carries, so consumers can filter by type without parsing. */
export function envelopeHeaders(envelope: Envelope): MsgHdrs {
  const h = headers();
  h.set(HEADER_TYPE, envelope.type);
  h.set(HEADER_SCHEMA, String(envelope.schemaVersion));
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
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InternalError(`event at sequence ${seq} is not an envelope: ${parsed.error.message}`, { details: { seq } });
  }
  return { ...(parsed.data as Envelope), seq };
}
