import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { EnvelopeSchema, HEADER_SCHEMA, HEADER_TYPE, InternalError, checkEnvelope, type Envelope, type StoredEnvelope } from '@propeller/events';

const decoder = new TextDecoder();

/** Serialises an envelope for the log (JSON; the bytes are what projections read back). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return textBytes(JSON.stringify(envelope));
}

/** The UTF-8 bytes of an envelope's JSON text (`encodeEnvelope` when the caller keeps the text too). */
export function textBytes(json: string): Uint8Array {
  // Buffer.from takes small strings out of Node's shared pool (TextEncoder allocates a fresh
  // ArrayBuffer per call, about twice the cost); the caller gets a plain Uint8Array view of it.
  const bytes = Buffer.from(json, 'utf8');
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

/**
 * `EnvelopeSchema.parse` without zod's per-field machinery (`checkEnvelope` of `@propeller/events`, the
 * same check the catalog parse uses), with the stream sequence: `null` for anything it does not accept
 * (then `EnvelopeSchema` decides); never accepts what the schema refuses.
 */
export function readEnvelope(raw: unknown, seq: number): StoredEnvelope | null {
  const envelope = checkEnvelope(raw);
  return envelope === null ? null : { ...envelope, seq };
}
