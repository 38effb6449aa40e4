import { isInvalid } from '@propeller/events';
import { wat } from '../testing';
import { capModuleMemory, exposeMemory, HOST_MEMORY_EXPORT, WASM_PAGE } from './memory-cap';
import { exportedFunctionType, readModule } from './module';
import { wasm, type WasmImports, type WasmMemory } from './webassembly';

const MIB = 2 ** 20;
const cap64 = 64 * MIB; // 1024 pages

/** Instantiates the capped module and reports the memory's growth limit by growing until it fails. */
function maxPagesAfterCap(bytes: Uint8Array, imports: WasmImports = {}): number {
  const instance = new wasm.Instance(new wasm.Module(bytes), imports);
  const memory = (instance.exports['memory'] ?? Object.values(imports['env'] ?? {})[0]) as WasmMemory;
  // grow() throws a RangeError past the maximum; probe one page beyond where it should stop.
  let pages = memory.buffer.byteLength / WASM_PAGE;
  for (;;) {
    try {
      memory.grow(1);
      pages++;
    } catch {
      return pages;
    }
  }
}

describe('capModuleMemory', () => {
  it('gives a memory without a maximum the cap as its maximum', async () => {
    const capped = capModuleMemory(await wat('(module (memory (export "memory") 1))'), 2 * MIB);
    expect(capped.info.memories).toEqual([{ min: 1, max: 32, shared: false }]);
    expect(maxPagesAfterCap(capped.bytes)).toBe(32);
  });

  it('lowers a declared maximum above the cap to the cap', async () => {
    const capped = capModuleMemory(await wat('(module (memory (export "memory") 1 65536))'), cap64);
    expect(capped.info.memories).toEqual([{ min: 1, max: 1024, shared: false }]);
  });

  it('keeps a declared maximum below the cap', async () => {
    const capped = capModuleMemory(await wat('(module (memory (export "memory") 2 3))'), cap64);
    expect(capped.info.memories).toEqual([{ min: 2, max: 3, shared: false }]);
    expect(maxPagesAfterCap(capped.bytes)).toBe(3);
  });

  it('refuses a memory whose minimum is above the cap, naming both', async () => {
    let err: unknown;
    try {
      capModuleMemory(await wat('(module (memory 2048))'), cap64);
    } catch (e) {
      err = e;
    }
    expect(isInvalid(err)).toBe(true);
    expect((err as Error).message).toBe(
      'wasm: memory 0 declares a minimum of 2048 pages (128 MiB), above the task memory cap of 1024 pages (64 MiB, PROPLET_TASK_MEMORY_MAX)',
    );
  });

  it('computes the maximum for an imported memory without touching the import', async () => {
    const source = await wat('(module (import "env" "memory" (memory 1)) (func (export "f") (result i32) i32.const 7))');
    const capped = capModuleMemory(source, 4 * MIB);
    expect(capped.bytes).toBe(source);
    expect(capped.importedMemories).toEqual([{ module: 'env', name: 'memory', min: 1, max: 64, shared: false }]);
    const memory = new wasm.Memory({ initial: 1, maximum: capped.importedMemories[0]?.max ?? 0 });
    expect(maxPagesAfterCap(capped.bytes, { env: { memory } })).toBe(64);
  });

  it('keeps an imported memory maximum smaller than the cap', async () => {
    const capped = capModuleMemory(await wat('(module (import "env" "memory" (memory 1 8)))'), cap64);
    expect(capped.importedMemories[0]?.max).toBe(8);
  });

  it('refuses an imported memory whose minimum is above the cap', async () => {
    const bytes = await wat('(module (import "env" "memory" (memory 100)))');
    expect(() => capModuleMemory(bytes, 1 * MIB)).toThrow(/imported memory env\.memory declares a minimum of 100 pages/);
  });

  it('caps a shared memory and keeps it shared', async () => {
    const capped = capModuleMemory(await wat('(module (memory 1 65536 shared))', { threads: true }), cap64);
    expect(capped.info.memories).toEqual([{ min: 1, max: 1024, shared: true }]);
    expect(wasm.validate(capped.bytes)).toBe(true);
  });

  it('refuses memory64 clearly', async () => {
    const bytes = await wat('(module (memory i64 1))', { memory64: true });
    expect(() => capModuleMemory(bytes, cap64)).toThrow('wasm: memory 0 is a 64-bit memory (memory64), which the proplet refuses');
  });

  it('leaves the rest of the module intact when the section grows (LEB sizes change)', async () => {
    // A data segment and code after the memory section must still line up once its size changes.
    const source = await wat(`(module
      (memory (export "memory") 1)
      (data (i32.const 16) "propeller")
      (func (export "at") (param i32) (result i32) (i32.load8_u (local.get 0))))`);
    const capped = capModuleMemory(source, cap64);
    expect(capped.bytes.length).toBeGreaterThan(source.length);
    const instance = new wasm.Instance(new wasm.Module(capped.bytes));
    expect((instance.exports['at'] as (n: number) => number)(16)).toBe('p'.charCodeAt(0));
    expect(exportedFunctionType(readModule(capped.bytes), 'at')).toEqual({ params: ['i32'], results: ['i32'] });
  });

  it('returns a module without memory unchanged', async () => {
    const source = await wat('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))');
    expect(capModuleMemory(source, cap64).bytes).toBe(source);
  });
});

describe('readModule', () => {
  it('reads the signatures of exported functions, imported functions counted first', async () => {
    const info = readModule(
      await wat(`(module
        (import "env" "log" (func (param i32)))
        (func (export "mix") (param i32 i64 f32 f64) (result i64) local.get 1))`),
    );
    expect(exportedFunctionType(info, 'mix')).toEqual({ params: ['i32', 'i64', 'f32', 'f64'], results: ['i64'] });
    expect(exportedFunctionType(info, 'missing')).toBeUndefined();
  });

  it('refuses bytes without the Wasm header', () => {
    expect(() => readModule(new TextEncoder().encode('#!/bin/sh\necho hi'))).toThrow(/not a WebAssembly module/);
  });

  it('refuses a section that claims more bytes than the module has', () => {
    const bytes = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0x40, 0x01]);
    expect(() => readModule(bytes)).toThrow(/section 1 at byte 8 claims 64 bytes, past the end/);
  });
});

describe('exposeMemory', () => {
  it('exports an unexported memory to the host, adding an export section where there was none', async () => {
    const exposed = exposeMemory(await wat('(module (memory 1) (func $f) (start $f) (data (i32.const 0) "x"))'));
    expect(wasm.validate(exposed)).toBe(true);
    const instance = new wasm.Instance(new wasm.Module(exposed));
    expect((instance.exports[HOST_MEMORY_EXPORT] as WasmMemory).buffer.byteLength).toBe(WASM_PAGE);
  });

  it('appends to an existing export section and keeps the other exports', async () => {
    const exposed = exposeMemory(await wat('(module (memory 1) (func (export "seven") (result i32) i32.const 7))'));
    const instance = new wasm.Instance(new wasm.Module(exposed));
    expect((instance.exports['seven'] as () => number)()).toBe(7);
    expect(instance.exports[HOST_MEMORY_EXPORT]).toBeDefined();
  });

  it('leaves a module that already exports its memory unchanged', async () => {
    const source = await wat('(module (memory (export "memory") 1))');
    expect(exposeMemory(source)).toBe(source);
  });
});
