import { InvalidError } from '@propeller/events';
import { readU32 } from './leb128';

/** Value types a task export may take or return; reference and vector types are listed so they can be refused by name. */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

/** A function signature from the type section. */
export interface FuncType {
  params: ValType[];
  results: ValType[];
}

/** Memory limits in 64 KiB pages; `max` absent means "no maximum declared". */
export interface MemoryLimits {
  min: number;
  max?: number;
  shared: boolean;
}

/** A memory the module imports (e.g. `env.memory`), which the host must provide. */
export interface ImportedMemory extends MemoryLimits {
  module: string;
  name: string;
}

/** One top-level section: `start` is the offset of its id byte, `contentStart`..`end` its payload. */
export interface Section {
  id: number;
  start: number;
  contentStart: number;
  end: number;
}

export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

/** What the proplet needs to know about a module before running it. */
export interface ModuleInfo {
  sections: Section[];
  types: FuncType[];
  /** Type index of every function, imported ones first (the function index space). */
  functionTypes: number[];
  imports: { module: string; name: string; kind: ExternKind }[];
  importedMemories: ImportedMemory[];
  /** Memories defined by the memory section, in order. */
  memories: MemoryLimits[];
  exports: Map<string, { kind: ExternKind; index: number }>;
}

export const SECTION_TYPE = 1;
export const SECTION_IMPORT = 2;
export const SECTION_FUNCTION = 3;
export const SECTION_MEMORY = 5;
export const SECTION_EXPORT = 7;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const KINDS: ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];
const VALTYPES: Record<number, ValType> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};

/** True when `bytes` start with the Wasm magic `\0asm` and binary version 1. */
export function hasWasmHeader(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && MAGIC.every((b, i) => bytes[i] === b) && bytes[4] === 1 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0;
}

/** A bounds-checked cursor over one section's payload. */
class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
    private readonly end: number,
    private readonly where: string,
  ) {}

  u32(what: string): number {
    const { value, next } = readU32(this.bytes, this.pos, `${this.where} ${what}`);
    if (next > this.end) throw new InvalidError(`wasm: ${this.where} ${what} runs past the end of its section`);
    this.pos = next;
    return value;
  }

  byte(what: string): number {
    if (this.pos >= this.end) throw new InvalidError(`wasm: ${this.where} is truncated reading ${what}`);
    return this.bytes[this.pos++] as number;
  }

  name(what: string): string {
    const len = this.u32(`${what} length`);
    if (this.pos + len > this.end) throw new InvalidError(`wasm: ${this.where} ${what} runs past the end of its section`);
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  valtype(what: string): ValType {
    const b = this.byte(what);
    const t = VALTYPES[b];
    if (t === undefined) throw new InvalidError(`wasm: ${this.where} uses value type 0x${b.toString(16)}, which the proplet does not support`);
    return t;
  }
}

/**
 * Reads memory limits. memory64 (flag 0x04) and custom page sizes (0x08) are refused: the cap is
 * computed in 64 KiB pages of a 32-bit memory, and guessing at another layout would cap nothing.
 */
export function readMemoryLimits(r: { byte(w: string): number; u32(w: string): number }, where: string): MemoryLimits {
  const flags = r.byte('memory limits flags');
  if (flags & 0x04) throw new InvalidError(`wasm: ${where} is a 64-bit memory (memory64), which the proplet refuses`);
  if (flags & 0x08) throw new InvalidError(`wasm: ${where} uses a custom page size, which the proplet refuses`);
  if (flags > 0x03) throw new InvalidError(`wasm: ${where} has unknown limits flags 0x${flags.toString(16)}`);
  const min = r.u32('memory minimum');
  const limits: MemoryLimits = { min, shared: (flags & 0x02) !== 0 };
  if (flags & 0x01) limits.max = r.u32('memory maximum');
  return limits;
}

function readTableType(r: Reader): void {
  r.valtype('table element type');
  const flags = r.byte('table limits flags');
  if (flags > 0x01) throw new InvalidError(`wasm: table limits flags 0x${flags.toString(16)} are not supported`);
  r.u32('table minimum');
  if (flags & 0x01) r.u32('table maximum');
}

/** Lists the top-level sections after checking the header; throws `InvalidError` on a malformed layout. */
export function readSections(bytes: Uint8Array): Section[] {
  if (!hasWasmHeader(bytes)) throw new InvalidError('wasm: not a WebAssembly module (missing \\0asm magic or version 1 header)');
  const sections: Section[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++] as number;
    const { value: size, next } = readU32(bytes, pos, `section ${id} size`);
    const end = next + size;
    if (end > bytes.length) throw new InvalidError(`wasm: section ${id} at byte ${start} claims ${size} bytes, past the end of the module`);
    sections.push({ id, start, contentStart: next, end });
    pos = end;
  }
  return sections;
}

/** Parses the parts of a module the proplet needs: signatures, exports, memories and imports. */
export function readModule(bytes: Uint8Array): ModuleInfo {
  const sections = readSections(bytes);
  const info: ModuleInfo = { sections, types: [], functionTypes: [], imports: [], importedMemories: [], memories: [], exports: new Map() };
  for (const s of sections) {
    const r = new Reader(bytes, s.contentStart, s.end, `section ${s.id}`);
    switch (s.id) {
      case SECTION_TYPE: {
        const n = r.u32('type count');
        for (let i = 0; i < n; i++) {
          const form = r.byte('type form');
          if (form !== 0x60) throw new InvalidError(`wasm: type ${i} has form 0x${form.toString(16)} (only plain function types are supported)`);
          const params = Array.from({ length: r.u32('param count') }, () => r.valtype('param type'));
          const results = Array.from({ length: r.u32('result count') }, () => r.valtype('result type'));
          info.types.push({ params, results });
        }
        break;
      }
      case SECTION_IMPORT: {
        const n = r.u32('import count');
        for (let i = 0; i < n; i++) {
          const module = r.name('import module');
          const name = r.name('import name');
          const kindByte = r.byte('import kind');
          const kind = KINDS[kindByte];
          if (kind === undefined) throw new InvalidError(`wasm: import ${module}.${name} has unknown kind ${kindByte}`);
          info.imports.push({ module, name, kind });
          if (kind === 'func') info.functionTypes.push(r.u32('import type index'));
          else if (kind === 'table') readTableType(r);
          else if (kind === 'memory') info.importedMemories.push({ module, name, ...readMemoryLimits(r, `imported memory ${module}.${name}`) });
          else if (kind === 'global') {
            r.valtype('global type');
            r.byte('global mutability');
          } else {
            r.byte('tag attribute');
            r.u32('tag type index');
          }
        }
        break;
      }
      case SECTION_FUNCTION: {
        const n = r.u32('function count');
        for (let i = 0; i < n; i++) info.functionTypes.push(r.u32('function type index'));
        break;
      }
      case SECTION_MEMORY: {
        const n = r.u32('memory count');
        for (let i = 0; i < n; i++) info.memories.push(readMemoryLimits(r, `memory ${i}`));
        break;
      }
      case SECTION_EXPORT: {
        const n = r.u32('export count');
        for (let i = 0; i < n; i++) {
          const name = r.name('export name');
          const kindByte = r.byte('export kind');
          const kind = KINDS[kindByte];
          if (kind === undefined) throw new InvalidError(`wasm: export ${name} has unknown kind ${kindByte}`);
          info.exports.set(name, { kind, index: r.u32('export index') });
        }
        break;
      }
      default:
        break;
    }
  }
  return info;
}

/** The signature of exported function `name`, or undefined when there is no such function export. */
export function exportedFunctionType(info: ModuleInfo, name: string): FuncType | undefined {
  const exp = info.exports.get(name);
  if (exp?.kind !== 'func') return undefined;
  const typeIndex = info.functionTypes[exp.index];
  return typeIndex === undefined ? undefined : info.types[typeIndex];
}

/** Names of the exported functions, for error messages that say what could have been called. */
export function exportedFunctionNames(info: ModuleInfo): string[] {
  return [...info.exports].filter(([, e]) => e.kind === 'func').map(([n]) => n);
}
