import { InvalidError } from '@propeller/events';
import { encodeU32 } from './leb128';
import { type ImportedMemory, type MemoryLimits, type ModuleInfo, readModule, SECTION_MEMORY } from './module';

/** Bytes in one WebAssembly page. */
export const WASM_PAGE = 65536;

/** A module whose memories cannot exceed the cap, and what the host must provide for its imported memories. */
export interface CappedModule {
  bytes: Uint8Array;
  info: ModuleInfo;
  capPages: number;
  /** Imported memories with the maximum the host's `WebAssembly.Memory` must have: min(declared, cap). */
  importedMemories: (ImportedMemory & { max: number })[];
}

const mib = (pages: number): string => `${((pages * WASM_PAGE) / 2 ** 20).toFixed(pages * WASM_PAGE < 2 ** 20 ? 3 : 0)} MiB`;

function capLimits(limits: MemoryLimits, capPages: number, what: string): MemoryLimits & { max: number } {
  if (limits.min > capPages) {
    throw new InvalidError(
      `wasm: ${what} declares a minimum of ${limits.min} pages (${mib(limits.min)}), above the task memory cap of ${capPages} pages (${mib(capPages)}, PROPLET_TASK_MEMORY_MAX)`,
      [{ field: 'memory.min', value: limits.min, rule: `at most ${capPages} pages` }],
    );
  }
  return { ...limits, max: Math.min(limits.max ?? capPages, capPages) };
}

function encodeLimits(l: MemoryLimits & { max: number }): number[] {
  return [0x01 | (l.shared ? 0x02 : 0), ...encodeU32(l.min), ...encodeU32(l.max)];
}

/**
 * Rewrites the memory section so that every defined memory's maximum is min(declared max, cap)
 * (a memory without a maximum gets the cap), and computes the maximum for imported memories.
 * A memory whose *minimum* exceeds the cap is refused: it could never run within it.
 * Only the memory section is re-encoded; every other byte is copied unchanged.
 */
export function capModuleMemory(bytes: Uint8Array, capBytes: number): CappedModule {
  if (!Number.isFinite(capBytes) || capBytes < WASM_PAGE) throw new RangeError(`task memory cap must be at least one page (${WASM_PAGE} bytes), got ${capBytes}`);
  const capPages = Math.min(Math.floor(capBytes / WASM_PAGE), 65536);
  const info = readModule(bytes);
  const importedMemories = info.importedMemories.map((m) => ({ ...m, ...capLimits(m, capPages, `imported memory ${m.module}.${m.name}`) }));
  const memories = info.memories.map((m, i) => capLimits(m, capPages, `memory ${i}`));
  const section = info.sections.find((s) => s.id === SECTION_MEMORY);
  if (section === undefined) return { bytes, info, capPages, importedMemories };

  const content = [...encodeU32(memories.length), ...memories.flatMap(encodeLimits)];
  const header = [SECTION_MEMORY, ...encodeU32(content.length)];
  const out = new Uint8Array(section.start + header.length + content.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  out.set(header, section.start);
  out.set(content, section.start + header.length);
  out.set(bytes.subarray(section.end), section.start + header.length + content.length);
  // Re-read so that section offsets in `info` describe the bytes we return.
  return { bytes: out, info: readModule(out), capPages, importedMemories };
}
