import { InvalidError } from '@propeller/events';
import { encodeU32, readU32 } from './leb128';
import { type ImportedMemory, type MemoryLimits, type ModuleInfo, readModule, SECTION_EXPORT, SECTION_MEMORY } from './module';

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

/** Export name under which `exposeMemory` makes an unexported memory visible to the host. */
export const HOST_MEMORY_EXPORT = '__propeller_memory';

/**
 * Adds an export of memory 0 when the module defines it without exporting it, so the host can tell
 * "the task ran out of its capped memory" from any other trap. Nothing else changes: a Wasm module
 * cannot observe its own exports.
 */
export function exposeMemory(bytes: Uint8Array): Uint8Array {
  const info = readModule(bytes);
  if (info.memories.length === 0 || info.importedMemories.length > 0) return bytes;
  if ([...info.exports.values()].some((e) => e.kind === 'memory' && e.index === 0) || info.exports.has(HOST_MEMORY_EXPORT)) return bytes;
  const name = new TextEncoder().encode(HOST_MEMORY_EXPORT);
  const entry = [...encodeU32(name.length), ...name, 0x02, 0x00];
  const existing = info.sections.find((s) => s.id === SECTION_EXPORT);
  let at: number;
  let end: number;
  let content: number[];
  if (existing) {
    const { next } = readU32(bytes, existing.contentStart, 'export count');
    content = [...encodeU32(info.exports.size + 1), ...bytes.subarray(next, existing.end), ...entry];
    at = existing.start;
    end = existing.end;
  } else {
    // The export section goes after type..global (ids 1-6) and before start, element, data count, code, data.
    const after = info.sections.find((s) => [8, 9, 10, 11, 12].includes(s.id));
    at = after?.start ?? bytes.length;
    end = at;
    content = [...encodeU32(1), ...entry];
  }
  const section = [SECTION_EXPORT, ...encodeU32(content.length), ...content];
  const out = new Uint8Array(at + section.length + (bytes.length - end));
  out.set(bytes.subarray(0, at), 0);
  out.set(section, at);
  out.set(bytes.subarray(end), at + section.length);
  return out;
}
