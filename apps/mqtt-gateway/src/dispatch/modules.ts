import { createHash } from 'node:crypto';
import { InternalError, InvalidError } from '@propeller/events';

/** Default bound of a module fetched by URL (`MODULE_MAX_BYTES`, 16 MiB). */
export const DEFAULT_MODULE_MAX_BYTES = 16 * 1024 * 1024;
/** Default time a module fetch may take (30 s: the Rust proplet waits 60 s for its chunks). */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
/** Message of a refused OCI reference. */
export const OCI_NOT_SUPPORTED = 'OCI references are not supported yet';

/**
 * What a module name (`image_url`, or a registry request's `app_name`) points at:
 * - `sha256:<hex>` — a module already in the object store;
 * - `http(s)://…` — fetched by the plane; `#sha256=<hex>` at the end pins its digest;
 * - `oci://…`, `docker://…`, or a reference without a scheme (`ghcr.io/org/app:1`) — OCI, refused for now.
 */
export type ModuleLocation =
  | { kind: 'digest'; digest: string }
  | { kind: 'http'; url: string; expectedDigest?: string }
  | { kind: 'oci'; reference: string }
  | { kind: 'invalid'; message: string };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const PIN_RE = /#sha256=([0-9a-fA-F]{64})$/;

/** Classifies a module name (pure). */
export function locateModule(name: string): ModuleLocation {
  const s = name.trim();
  if (DIGEST_RE.test(s)) return { kind: 'digest', digest: s };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(s)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    const pin = PIN_RE.exec(s);
    return pin ? { kind: 'http', url: s.slice(0, pin.index), expectedDigest: `sha256:${pin[1]?.toLowerCase()}` } : { kind: 'http', url: s };
  }
  if (scheme === 'oci' || scheme === 'docker') return { kind: 'oci', reference: s };
  if (scheme === undefined && s.length > 0 && !/\s/.test(s)) return { kind: 'oci', reference: s };
  return { kind: 'invalid', message: `module ${JSON.stringify(name)}: unsupported scheme (expected http(s)://, sha256:<hex> or an OCI reference)` };
}

/** `sha256:<hex>` of some bytes, the name modules are stored under. */
export const moduleDigest = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The object store calls the module source needs (`@nats-io/obj`'s `ObjectStore` has them). */
export interface ModuleStore {
  getBlob(name: string): Promise<Uint8Array | null>;
  info(name: string): Promise<unknown>;
  putBlob(meta: { name: string; description?: string }, data: Uint8Array | null): Promise<unknown>;
}

/** Options of `ModuleSource`. */
export interface ModuleSourceOptions {
  store: ModuleStore;
  /** `MODULE_MAX_BYTES` (default 16 MiB). */
  maxBytes?: number;
  /** Default 30 s. */
  fetchTimeoutMs?: number;
  /** Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Bytes of modules kept in memory by digest (default 64 MiB; 0 turns the cache off). */
  cacheBytes?: number;
}

/** Default bound of the in-memory module cache (64 MiB). */
export const DEFAULT_MODULE_CACHE_BYTES = 64 * 1024 * 1024;

/** A module and its digest. */
export interface LoadedModule {
  digest: string;
  bytes: Uint8Array;
}

/**
 * Finds module bytes: by digest in the object store, or by URL over HTTP(S) with the size bound and the
 * optional digest pin, storing what it fetched by digest so the next request is served from the store.
 * A refusal that retrying cannot change (OCI, digest mismatch, too large, HTTP 4xx) is `InvalidError`
 * with `details.reason`; a transient one (network, 5xx, store) is `InternalError`.
 */
export class ModuleSource {
  readonly #store: ModuleStore;
  readonly #max: number;
  readonly #timeout: number;
  readonly #fetch: typeof fetch;
  // Name → digest of what was fetched, so a registry request for a dispatched image_url is not fetched twice.
  readonly #known = new Map<string, string>();
  // Digest → bytes, least recently used first. A digest names its bytes for good, so nothing goes stale:
  // the same module dispatched again is not read from the object store again.
  readonly #cache = new Map<string, Uint8Array>();
  readonly #cacheMax: number;
  #cached = 0;

  constructor(o: ModuleSourceOptions) {
    this.#store = o.store;
    this.#cacheMax = o.cacheBytes ?? DEFAULT_MODULE_CACHE_BYTES;
    this.#max = o.maxBytes ?? DEFAULT_MODULE_MAX_BYTES;
    this.#timeout = o.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.#fetch = o.fetch ?? fetch;
  }

  /** Bytes stored under `digest`; `InvalidError` (`moduleMissing`) when the store does not have them. */
  async byDigest(digest: string): Promise<LoadedModule> {
    const hit = this.#cache.get(digest);
    if (hit !== undefined) {
      this.#cache.delete(digest);
      this.#cache.set(digest, hit);
      return { digest, bytes: hit };
    }
    let bytes: Uint8Array | null;
    try {
      bytes = await this.#store.getBlob(digest);
    } catch (e) {
      throw new InternalError(`cannot read module ${digest} from the object store`, { cause: e });
    }
    if (bytes === null) throw new InvalidError(`module ${digest} is not in the module store`, [], { details: { reason: 'moduleMissing' } });
    this.#remember(digest, bytes);
    return { digest, bytes };
  }

  /** Modules held in memory, and their bytes. */
  get cached(): { modules: number; bytes: number } {
    return { modules: this.#cache.size, bytes: this.#cached };
  }

  #remember(digest: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.#cacheMax / 4 || this.#cache.has(digest)) return;
    this.#cache.set(digest, bytes);
    this.#cached += bytes.byteLength;
    for (const [d, b] of this.#cache) {
      if (this.#cached <= this.#cacheMax) break;
      this.#cache.delete(d);
      this.#cached -= b.byteLength;
    }
  }

  /** Bytes a module name points at (see `locateModule`); `expectedDigest` (a task's `module.digest`) is checked too. */
  async load(name: string, expectedDigest?: string): Promise<LoadedModule> {
    const where = locateModule(name);
    switch (where.kind) {
      case 'digest':
        return this.byDigest(where.digest);
      case 'oci':
        throw new InvalidError(`${OCI_NOT_SUPPORTED}: ${where.reference}`, [], { details: { reason: 'ociUnsupported' } });
      case 'invalid':
        throw new InvalidError(where.message, [], { details: { reason: 'unsupportedScheme' } });
      case 'http': {
        const wanted = expectedDigest ?? where.expectedDigest;
        if (expectedDigest !== undefined && where.expectedDigest !== undefined && expectedDigest !== where.expectedDigest) {
          throw new InvalidError(`module ${name}: the URL pins ${where.expectedDigest} but the task expects ${expectedDigest}`, [], { details: { reason: 'digestMismatch' } });
        }
        const cached = this.#known.get(name);
        if (cached !== undefined && (wanted === undefined || wanted === cached)) {
          const hit = await this.byDigest(cached).catch(() => undefined);
          if (hit !== undefined) return hit;
        }
        const bytes = await this.#download(where.url);
        const digest = moduleDigest(bytes);
        if (wanted !== undefined && wanted !== digest) {
          throw new InvalidError(`module ${where.url}: digest mismatch, expected ${wanted}, got ${digest}`, [], { details: { reason: 'digestMismatch', expected: wanted, actual: digest } });
        }
        await this.#keep(digest, bytes, where.url);
        this.#remember(digest, bytes);
        this.#known.set(name, digest);
        if (this.#known.size > 10_000) this.#known.delete(this.#known.keys().next().value as string);
        return { digest, bytes };
      }
      default: {
        const never: never = where;
        return never;
      }
    }
  }

  async #keep(digest: string, bytes: Uint8Array, url: string): Promise<void> {
    try {
      if ((await this.#store.info(digest)) === null) await this.#store.putBlob({ name: digest, description: `Wasm module from ${url}, ${bytes.byteLength} bytes` }, bytes);
    } catch (e) {
      throw new InternalError(`cannot store module ${digest}`, { cause: e });
    }
  }

  async #download(url: string): Promise<Uint8Array> {
    const tooLarge = (n: number | string): InvalidError =>
      new InvalidError(`module ${url} is ${n} bytes, over MODULE_MAX_BYTES (${this.#max})`, [], { details: { reason: 'moduleTooLarge' } });
    let res: Response;
    try {
      res = await this.#fetch(url, { signal: AbortSignal.timeout(this.#timeout), redirect: 'follow' });
    } catch (e) {
      throw new InternalError(`cannot fetch module ${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (!res.ok) {
      const msg = `cannot fetch module ${url}: HTTP ${res.status}`;
      // A 4xx will not change by asking again; a 5xx may.
      if (res.status >= 400 && res.status < 500) throw new InvalidError(msg, [], { details: { reason: 'fetchRefused', status: res.status } });
      throw new InternalError(msg);
    }
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > this.#max) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(declared);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    if (res.body === null) return new Uint8Array();
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      // Stop reading as soon as the bound is passed: a server that lies about (or omits) its length cannot fill memory.
      if (total > this.#max) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(`more than ${this.#max}`);
      }
      parts.push(value);
    }
    return Buffer.concat(parts);
  }
}
