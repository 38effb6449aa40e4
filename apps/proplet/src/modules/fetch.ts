import { InvalidError } from '@propeller/events';

/** Limits for downloading a module. */
export interface FetchOptions {
  /** Largest module accepted (MODULE_MAX_BYTES, default 16 MiB). */
  maxBytes: number;
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
}

/**
 * Downloads a module over HTTP(S), refusing it as soon as it passes `maxBytes` (by Content-Length
 * or while streaming, so a lying server cannot make the proplet buffer more than the limit).
 */
export async function fetchModule(url: string, options: FetchOptions): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw InvalidError.field('image_url', url, 'must be an http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw InvalidError.field('image_url', url, 'must be an http(s) URL');
  const res = await fetch(parsed, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000), redirect: 'follow' });
  if (!res.ok) {
    await res.body?.cancel();
    throw new InvalidError(`module download from ${url} failed: HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > options.maxBytes) {
    await res.body?.cancel();
    throw new InvalidError(`module at ${url} is ${declared} bytes, above the limit of ${options.maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > options.maxBytes) throw new InvalidError(`module at ${url} exceeds the limit of ${options.maxBytes} bytes`);
      chunks.push(chunk);
    }
  }
  return new Uint8Array(Buffer.concat(chunks));
}
