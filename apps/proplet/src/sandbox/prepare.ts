import { createHash } from 'node:crypto';
import { InvalidError } from '@propeller/events';
import { capModuleMemory, type CappedModule, exposeMemory } from '../wasm/memory-cap';
import { hasWasmHeader } from '../wasm/module';
import { wasm, type WasmModule } from '../wasm/webassembly';

/** A module checked, memory-capped and compiled once, ready to run any number of times. */
export interface PreparedModule extends CappedModule {
  /** `sha256:<hex>` of the bytes as received (before capping), the module store's key. */
  digest: string;
  /** Size of the bytes as received. */
  size: number;
  compiled: WasmModule;
}

/** `sha256:<hex>` of some bytes, the module store's content key. */
export function moduleDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Checks the magic, caps every memory at `memoryMaxBytes`, then validates and compiles.
 * Throws `InvalidError` with a message fit for a task's error result.
 */
export async function prepareModule(bytes: Uint8Array, memoryMaxBytes: number, digest = moduleDigest(bytes)): Promise<PreparedModule> {
  if (!hasWasmHeader(bytes)) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new InvalidError(`invalid module: not WebAssembly (expected the \\0asm magic and version 1, got ${head || 'no bytes'})`);
  }
  const capped = capModuleMemory(bytes, memoryMaxBytes);
  capped.bytes = exposeMemory(capped.bytes);
  let compiled: WasmModule;
  try {
    compiled = await wasm.compile(capped.bytes);
  } catch (err) {
    throw new InvalidError(`invalid module: ${err instanceof Error ? err.message : String(err)}`, [], { cause: err });
  }
  return { ...capped, digest, size: bytes.length, compiled };
}
