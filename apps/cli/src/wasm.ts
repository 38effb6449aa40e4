import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import wabtInit from 'wabt';
import { UsageError } from './output';

// The workspace compiles without DOM types, so there is no global `WebAssembly` type; type the two calls used here.
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: { new (bytes: Uint8Array): object; exports(module: object): Array<{ name: string; kind: string }> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** A module ready to upload: its bytes and the names of its exported functions. */
export interface LoadedModule {
  file: string;
  bytes: Uint8Array;
  functions: string[];
}

/** Compiles WebAssembly text to validated binary; a syntax error names the file and line. */
export async function compileWat(source: string, fileName = 'module.wat'): Promise<Uint8Array> {
  const wabt = await wabtInit();
  let module: ReturnType<typeof wabt.parseWat> | undefined;
  try {
    module = wabt.parseWat(fileName, source);
    module.validate();
    return module.toBinary({}).buffer;
  } catch (e) {
    throw new UsageError(`${fileName}: not valid WebAssembly text: ${(e as Error).message.trim()}`);
  } finally {
    module?.destroy();
  }
}

/** The exported function names of a binary module; throws `UsageError` when the bytes are not valid Wasm. */
export function exportedFunctions(bytes: Uint8Array, fileName = 'module'): string[] {
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) throw new UsageError(`${fileName}: not a WebAssembly module (no \\0asm header)`);
  if (!wasm.validate(bytes)) throw new UsageError(`${fileName}: not a valid WebAssembly module`);
  return wasm.Module.exports(new wasm.Module(bytes))
    .filter((e) => e.kind === 'function')
    .map((e) => e.name);
}

/** Reads a `.wasm` file, or compiles a `.wat` file, and lists its exported functions. */
export async function loadModule(file: string): Promise<LoadedModule> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new UsageError(`${file}: cannot read the module (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const bytes = extname(file).toLowerCase() === '.wat' ? await compileWat(raw.toString('utf8'), basename(file)) : new Uint8Array(raw);
  return { file, bytes, functions: exportedFunctions(bytes, basename(file)) };
}

/**
 * The function `propeller run` calls: the `--function` flag (which must be exported), else the module's
 * only exported function, else an error listing the exports to choose from.
 */
export function chooseFunction(functions: readonly string[], flag: string | undefined, fileName: string): string {
  if (flag !== undefined) {
    if (!functions.includes(flag)) {
      throw new UsageError(`${fileName} exports no function "${flag}" (it exports: ${functions.length === 0 ? 'none' : functions.join(', ')})`);
    }
    return flag;
  }
  if (functions.length === 1) return functions[0] as string;
  if (functions.length === 0) throw new UsageError(`${fileName} exports no function to call`);
  throw new UsageError(`${fileName} exports several functions (${functions.join(', ')}): choose one with --function`);
}
