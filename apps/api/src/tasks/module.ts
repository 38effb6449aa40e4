import { createHash } from 'node:crypto';
import type { ObjectStore } from '@nats-io/obj';
import { DEFAULT_MODULE_MAX_BYTES, InvalidError, isInvalid, type ModuleRef } from '@propeller/events';

/** `details.reason` of the error for a module over `MODULE_MAX_BYTES` (the scheduler uses the same); answered 413. */
export const MODULE_TOO_LARGE = 'moduleTooLarge';

/** True for a module over `MODULE_MAX_BYTES`, whether the API or the scheduler found it. */
export const isModuleTooLarge = (e: unknown): boolean => isInvalid(e) && (e.details as { reason?: unknown } | undefined)?.reason === MODULE_TOO_LARGE;

// The TypeScript libs here (ES2023 + @types/node 20) declare WebAssembly's types but not its value.
const wasm = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** A checked upload: its bytes and the reference the command (and the events) carry instead. */
export interface CheckedUpload {
  bytes: Uint8Array;
  ref: ModuleRef;
}

/**
 * Decodes and checks a base64 Wasm module from a request: standard base64, at most `maxBytes`
 * (computed from the text length, so an oversized upload costs no decode), the Wasm magic, and
 * `WebAssembly.validate`. Throws `InvalidError` naming `field`; over the limit with `details.reason`
 * `moduleTooLarge` (413). The digest is `sha256:<hex>` of the bytes. Default limit 16 MiB.
 */
export function checkUpload(file: string, maxBytes = DEFAULT_MODULE_MAX_BYTES, field = 'file'): CheckedUpload {
  const text = file.replace(/\s+/g, '');
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64_RE.test(text)) {
    throw InvalidError.field(field, file.length > 64 ? `${file.slice(0, 64)}…` : file, 'must be standard base64 (A-Z a-z 0-9 + /, = padding) of a Wasm module');
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const size = (text.length / 4) * 3 - padding;
  if (size > maxBytes) {
    const rule = `must be at most ${maxBytes} bytes of Wasm (MODULE_MAX_BYTES); got ${size}`;
    throw new InvalidError(`${field}: ${rule}`, [{ field, value: `<${size} bytes>`, rule }], { details: { reason: MODULE_TOO_LARGE, sizeBytes: size, limitBytes: maxBytes } });
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw InvalidError.field(field, `<${bytes.length} bytes>`, 'must start with the Wasm magic \\0asm');
  }
  if (!wasm.validate(bytes)) throw InvalidError.field(field, `<${bytes.length} bytes>`, 'must be a valid WebAssembly module (WebAssembly.validate failed)');
  return { bytes, ref: { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, source: 'inline' } };
}

/**
 * Stores a checked module once, by digest, in the module object store and returns its reference.
 * The API stores uploads itself rather than sending the bytes in `task.create`: a command travels as
 * one NATS message (1 MiB `max_payload` by default), a module may be 16 MiB.
 */
export async function storeUpload(modules: ObjectStore, upload: CheckedUpload): Promise<ModuleRef> {
  // Content-addressed: the same bytes are stored once, whoever uploads them.
  if ((await modules.info(upload.ref.digest)) === null) {
    await modules.putBlob({ name: upload.ref.digest, description: `Wasm module, ${upload.ref.size} bytes` }, upload.bytes);
  }
  return upload.ref;
}
