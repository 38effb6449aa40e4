import { createHash } from 'node:crypto';
import { fromWireError, toWireError } from '@propeller/events';
import { checkModule, isModuleTooLarge } from './module';

// PROTOCOL.md "Examples": a core module exporting add(i32, i32) -> i32 (41 bytes).
const ADD = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

describe('checkModule', () => {
  it('accepts a valid module and names it by the sha256 of its bytes', () => {
    const m = checkModule(ADD);
    const hex = createHash('sha256').update(Buffer.from(ADD, 'base64')).digest('hex');
    expect(m.ref).toEqual({ digest: `sha256:${hex}`, size: 41, source: 'inline' });
  });

  it('refuses text that is not base64, naming the field', () => {
    expect(() => checkModule('not base64!')).toThrow(expect.objectContaining({ code: 'Invalid', message: expect.stringMatching(/data\.file: must be standard base64/) }));
  });

  it('refuses bytes without the Wasm magic', () => {
    expect(() => checkModule(Buffer.from('hello world, not wasm').toString('base64'))).toThrow(/Wasm magic/);
  });

  it('refuses a module with the magic that does not validate', () => {
    const broken = Buffer.from(ADD, 'base64').subarray(0, 30);
    expect(() => checkModule(broken.toString('base64'))).toThrow(/WebAssembly.validate/);
  });

  it('refuses a module over the limit with an error the API maps to 413, also after the wire', () => {
    let thrown: unknown;
    try {
      checkModule(ADD, 40);
    } catch (e) {
      thrown = e;
    }
    expect(isModuleTooLarge(thrown)).toBe(true);
    expect(isModuleTooLarge(fromWireError(toWireError(thrown)))).toBe(true);
    expect(thrown).toMatchObject({ details: { sizeBytes: 41, limitBytes: 40 } });
    expect(() => checkModule(ADD, 41)).not.toThrow();
  });
});
