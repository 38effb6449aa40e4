import { InvalidError } from '@propeller/events';

/** A decoded LEB128 value and the offset just past it. */
export interface Leb {
  value: number;
  next: number;
}

/**
 * Reads an unsigned LEB128 integer of at most `maxBits` (32 for sizes and counts) at `offset`.
 * Throws `InvalidError` on a truncated or over-long encoding rather than reading past the end.
 */
export function readU32(bytes: Uint8Array, offset: number, what = 'u32'): Leb {
  let result = 0;
  let shift = 0;
  let pos = offset;
  for (;;) {
    if (pos >= bytes.length) throw new InvalidError(`wasm: truncated LEB128 ${what} at byte ${offset}`);
    const byte = bytes[pos++] as number;
    if (shift === 28 && (byte & 0x70) !== 0) throw new InvalidError(`wasm: LEB128 ${what} at byte ${offset} exceeds 32 bits`);
    // Multiplication instead of `<<` keeps values ≥ 2^31 positive.
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value: result, next: pos };
    shift += 7;
    if (shift > 28) throw new InvalidError(`wasm: LEB128 ${what} at byte ${offset} is longer than 5 bytes`);
  }
}

/** Encodes an unsigned 32-bit integer as minimal LEB128. */
export function encodeU32(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`LEB128 u32 out of range: ${value}`);
  }
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return Uint8Array.from(out);
}
