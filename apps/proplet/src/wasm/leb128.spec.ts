import { isInvalid } from '@propeller/events';
import { encodeU32, readU32 } from './leb128';

describe('LEB128', () => {
  it.each([0, 1, 127, 128, 255, 624485, 65536, 2 ** 31, 0xffffffff])('round-trips %d', (n) => {
    const bytes = encodeU32(n);
    expect(readU32(bytes, 0)).toEqual({ value: n, next: bytes.length });
  });

  it('encodes 624485 as the spec example e5 8e 26', () => {
    expect([...encodeU32(624485)]).toEqual([0xe5, 0x8e, 0x26]);
  });

  it('reads a padded (non-minimal) encoding, as the spec allows', () => {
    expect(readU32(Uint8Array.from([0x83, 0x80, 0x80, 0x00]), 0)).toEqual({ value: 3, next: 4 });
  });

  it('refuses a truncated value', () => {
    expect(() => readU32(Uint8Array.from([0x80, 0x80]), 0)).toThrow(/truncated/);
  });

  it('refuses a value above 32 bits', () => {
    let err: unknown;
    try {
      readU32(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x7f]), 0);
    } catch (e) {
      err = e;
    }
    expect(isInvalid(err)).toBe(true);
    expect((err as Error).message).toMatch(/exceeds 32 bits/);
  });
});
