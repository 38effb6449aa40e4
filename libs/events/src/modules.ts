import { createHash } from 'node:crypto';
import { DEFAULT_MODULE_MAX_BYTES, type ModuleRef } from './common';
import { InvalidError, isInvalid } from './errors';

/** `details.reason` of the `Invalid` error for a module over `MODULE_MAX_BYTES`; the API answers it 413. */
export const MODULE_TOO_LARGE = 'moduleTooLarge';

/**
 * A Wasm module over `MODULE_MAX_BYTES`. An `Invalid` error (it crosses the wire as one) whose
 * `details` say `reason: "moduleTooLarge"`, `sizeBytes` and `limitBytes`; `isModuleTooLarge` tells it apart.
 */
export class ModuleTooLargeError extends InvalidError {
  constructor(field: string, sizeBytes: number, limitBytes: number) {
    const rule = `must be at most ${limitBytes} bytes of Wasm (MODULE_MAX_BYTES); got ${sizeBytes}`;
    super(`${field}: ${rule}`, [{ field, value: `<${sizeBytes} bytes>`, rule }], { details: { reason: MODULE_TOO_LARGE, sizeBytes, limitBytes } });
  }
}

/** True for a module over `MODULE_MAX_BYTES`, whoever found it, also when rebuilt from a command reply (`fromWireError`). */
export const isModuleTooLarge = (e: unknown): boolean => isInvalid(e) && (e.details as { reason?: unknown } | undefined)?.reason === MODULE_TOO_LARGE;

// The TypeScript libs here (ES2023 + @types/node 20) declare WebAssembly's types but not its value.
const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** A checked module: its bytes and the reference commands and events carry instead of them. */
export interface CheckedModule {
  bytes: Uint8Array;
  ref: ModuleRef;
}

/**
 * Decodes and checks a base64 Wasm module (`file` of `POST /tasks`, or of `task.create`): standard base64,
 * at most `maxBytes` (computed from the text length, so an oversized upload costs no decode), the Wasm
 * magic, and `WebAssembly.validate`. Throws `InvalidError` naming `field`, or `ModuleTooLargeError`. The
 * digest is `sha256:<hex>` of the bytes. Default limit 16 MiB. The API and the scheduler both use it.
 */
export function checkModule(file: unknown, maxBytes = DEFAULT_MODULE_MAX_BYTES, field = 'file'): CheckedModule {
  const text = typeof file === 'string' ? file.replace(/\s+/g, '') : '';
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64_RE.test(text)) {
    const shown = typeof file === 'string' && file.length > 64 ? `${file.slice(0, 64)}…` : file;
    throw InvalidError.field(field, shown, 'must be standard base64 (A-Z a-z 0-9 + /, = padding) of a Wasm module');
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const size = (text.length / 4) * 3 - padding;
  if (size > maxBytes) throw new ModuleTooLargeError(field, size, maxBytes);
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw InvalidError.field(field, `<${bytes.length} bytes>`, 'must start with the Wasm magic \\0asm');
  }
  if (!wasm.validate(bytes)) throw InvalidError.field(field, `<${bytes.length} bytes>`, 'must be a valid WebAssembly module (WebAssembly.validate failed)');
  return { bytes, ref: { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, source: 'inline' } };
}
