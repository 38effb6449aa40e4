import { deriveRegistration, parseCreate, parseMessage, REJECTION_REASONS } from '../index';
import { createShapeSamples, EXAMPLE_ADD_WASM_BASE64, EXAMPLE_MAIN_WASM_BASE64, malformedSamples } from './index';

// The workspace's `lib` has no DOM typings, so the WebAssembly JS API (present in Node) is typed here.
const wasm = (globalThis as unknown as {
  WebAssembly: { Module: { new (bytes: Uint8Array): object; exports(module: object): { name: string; kind: string }[] } };
}).WebAssembly;

describe('testing fixtures', () => {
  it.each([
    ['add', EXAMPLE_ADD_WASM_BASE64, 41],
    ['main', EXAMPLE_MAIN_WASM_BASE64, 42],
  ])('the PROTOCOL.md example module exporting %s is valid Wasm of the stated size', (name, base64, size) => {
    const bytes = Buffer.from(base64, 'base64');
    expect(bytes.length).toBe(size);
    const module = new wasm.Module(bytes);
    expect(wasm.Module.exports(module)).toEqual([{ name, kind: 'function' }]);
  });

  it.each(createShapeSamples('fx').map((s) => [s.name, s] as const))('the %s create sample derives to what it promises', (_name, sample) => {
    const parsed = parseCreate(JSON.stringify(sample.payload));
    if (!parsed.ok) throw new Error(parsed.message);
    expect(deriveRegistration(parsed.value, { channel: 'c', layout: 'direct' })).toMatchObject(sample.expected);
  });

  it('has malformed samples for every rejection reason, each rejected for its reason', () => {
    const samples = malformedSamples();
    expect(new Set(samples.map((s) => s.reason))).toEqual(new Set(REJECTION_REASONS));
    const outcome = (s: (typeof samples)[number]): string => {
      const r = parseMessage(s.kind, s.payload);
      return r.ok ? 'accepted' : r.reason;
    };
    expect(samples.map(outcome)).toEqual(samples.map((s) => s.reason));
  });
});
