import type { JsMsg } from '@nats-io/jetstream';
import { HEADER_TYPE } from '@propeller/events';

const decoder = new TextDecoder();
const NEEDLE = `\r\n${HEADER_TYPE}:`;

/** The fields of nats-core's message (3.x) that hold its undecoded header block. */
interface RawMsg {
  _msg?: { hdr?: unknown };
  _rdata?: unknown;
  _headers?: unknown;
}

/**
 * The undecoded header block of a JetStream message (`NATS/1.0\r\nKey: value\r\n…`), read from
 * nats-core's message internals; `null` when they do not look as expected (another client version)
 * or the headers were decoded already, and the caller should use `m.headers`.
 */
export function rawHeaderBlock(m: JsMsg): Uint8Array | null {
  const inner = (m as unknown as { msg?: RawMsg }).msg;
  if (inner === undefined || inner === null || inner._headers !== undefined) return null;
  const hdr = inner._msg?.hdr;
  const data = inner._rdata;
  if (typeof hdr !== 'number' || !(data instanceof Uint8Array) || hdr > data.byteLength) return null;
  return hdr > 0 ? data.subarray(0, hdr) : new Uint8Array(0);
}

/**
 * `m.headers?.get(HEADER_TYPE) ?? ''` without decoding every header into a `MsgHdrs` (about 3 µs a
 * message): a consumer that skips most types by this header reads it straight from the header
 * block. The same answer: the first value of the exactly spelled key, trimmed; '' when absent.
 */
export function typeHeader(m: JsMsg): string {
  return headerValue(m, HEADER_TYPE, NEEDLE);
}

const MSG_ID_NEEDLE = '\r\nNats-Msg-Id:';

/** `m.headers?.get('Nats-Msg-Id') ?? ''` read the same way as `typeHeader`: the envelope id the event store published with. */
export function msgIdHeader(m: JsMsg): string {
  return headerValue(m, 'Nats-Msg-Id', MSG_ID_NEEDLE);
}

function headerValue(m: JsMsg, key: string, needle: string): string {
  const block = rawHeaderBlock(m);
  if (block === null) return m.headers?.get(key) ?? '';
  if (block.byteLength === 0) return '';
  const text = decoder.decode(block);
  const at = text.indexOf(needle);
  if (at < 0) return '';
  const from = at + needle.length;
  const end = text.indexOf('\r\n', from);
  return text.slice(from, end < 0 ? text.length : end).trim();
}
