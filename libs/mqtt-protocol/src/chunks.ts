import { InvalidError } from '@propeller/events';
import type { RegistryChunkMessage } from './messages';

/** Raw bytes per registry chunk when the caller does not say (64 KiB → about 87 KiB of base64 per message). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * Splits a module into `registry/server` messages `{app_name, chunk_idx, total_chunks, data}`, in
 * order. Each chunk is the base64 of its own slice, so chunks decode independently. An empty
 * module is one empty chunk. For an ESP32, which takes one chunk as the whole module, pass
 * `chunkSize >= bytes.length`. Throws `InvalidError` for an empty app name or a chunk size below 1.
 */
export function chunkModule(appName: string, bytes: Uint8Array, chunkSize: number = DEFAULT_CHUNK_SIZE): RegistryChunkMessage[] {
  if (typeof appName !== 'string' || appName.length === 0) throw InvalidError.field('appName', appName, 'must be a non-empty string');
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw InvalidError.field('chunkSize', chunkSize, 'must be an integer ≥ 1');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const total = Math.max(1, Math.ceil(buf.length / chunkSize));
  const chunks: RegistryChunkMessage[] = [];
  for (let i = 0; i < total; i++) {
    chunks.push({
      app_name: appName,
      chunk_idx: i,
      total_chunks: total,
      data: buf.subarray(i * chunkSize, (i + 1) * chunkSize).toString('base64'),
    });
  }
  return chunks;
}

/** Why chunks cannot be put back together. */
export type ReassemblyFailureReason = 'no_chunks' | 'mixed_apps' | 'inconsistent_total' | 'missing_chunks' | 'conflicting_duplicate';

/** Outcome of `reassembleChunks`. */
export type Reassembly =
  | { ok: true; appName: string; bytes: Buffer }
  | { ok: false; reason: ReassemblyFailureReason; message: string; missing?: number[] };

/**
 * Puts a module back together from its chunks, in any order. A chunk delivered twice with the same
 * data is harmless (MQTT QoS 1 may redeliver); the same index with different data, chunks of
 * several apps, disagreeing `total_chunks` or a missing index are failures naming what is wrong.
 */
export function reassembleChunks(chunks: readonly RegistryChunkMessage[]): Reassembly {
  const first = chunks[0];
  if (first === undefined) return { ok: false, reason: 'no_chunks', message: 'no chunks to reassemble' };
  const byIndex = new Map<number, string>();
  for (const c of chunks) {
    if (c.app_name !== first.app_name) {
      return { ok: false, reason: 'mixed_apps', message: `chunks of ${JSON.stringify(first.app_name)} and ${JSON.stringify(c.app_name)} mixed` };
    }
    if (c.total_chunks !== first.total_chunks) {
      return { ok: false, reason: 'inconsistent_total', message: `total_chunks ${first.total_chunks} and ${c.total_chunks} disagree` };
    }
    const seen = byIndex.get(c.chunk_idx);
    if (seen !== undefined && seen !== c.data) {
      return { ok: false, reason: 'conflicting_duplicate', message: `chunk ${c.chunk_idx} arrived twice with different data` };
    }
    byIndex.set(c.chunk_idx, c.data);
  }
  const missing: number[] = [];
  for (let i = 0; i < first.total_chunks; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length > 0) {
    return { ok: false, reason: 'missing_chunks', message: `missing chunks ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} of ${first.total_chunks}`, missing };
  }
  const parts: Buffer[] = [];
  for (let i = 0; i < first.total_chunks; i++) parts.push(Buffer.from(byIndex.get(i) ?? '', 'base64'));
  return { ok: true, appName: first.app_name, bytes: Buffer.concat(parts) };
}
