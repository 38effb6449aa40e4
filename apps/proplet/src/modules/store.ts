import { InvalidError } from '@propeller/events';
import { moduleDigest, prepareModule, type PreparedModule } from '../sandbox/prepare';
import { fetchModule } from './fetch';
import { ByteLru } from './lru';

/** Where a task's module comes from; exactly one of `inline`, `url` or `registryName` is used, in that order. */
export interface ModuleSource {
  /** Base64 Wasm (`file` in a start message). */
  inline?: string;
  /** HTTP(S) URL (`image_url`). */
  url?: string;
  /** A name fetched in chunks over `registry/*` (an `image_url` that is not a URL). */
  registryName?: string;
  /** Expected `sha256:<hex>`; a mismatch fails the task naming both digests. */
  digest?: string;
}

/** Fetches a module by name over the registry topics; supplied by the MQTT agent. */
export type RegistryFetch = (name: string) => Promise<Uint8Array>;

/** Module store options. */
export interface ModuleStoreOptions {
  /** Memory cap applied to every module (PROPLET_TASK_MEMORY_MAX, default 64 MiB). */
  memoryMaxBytes: number;
  /** Largest module accepted (MODULE_MAX_BYTES, default 16 MiB). */
  maxModuleBytes?: number;
  /** Cache budget in bytes of module (default 64 MiB). */
  cacheBytes?: number;
  registry?: RegistryFetch;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Resolves a task's module to a prepared (capped, compiled) module, caching by digest so a module
 * run again is neither downloaded, validated nor compiled again. URLs and registry names remember
 * their digest, so a repeated `image_url` is served from the cache.
 */
export class ModuleStore {
  private readonly cache: ByteLru<PreparedModule>;
  private readonly byLocation = new Map<string, string>();
  private readonly maxModuleBytes: number;

  constructor(private readonly options: ModuleStoreOptions) {
    this.cache = new ByteLru(options.cacheBytes ?? 64 * 2 ** 20);
    this.maxModuleBytes = options.maxModuleBytes ?? 16 * 2 ** 20;
  }

  /** Modules and bytes currently cached. */
  get stats(): { modules: number; bytes: number } {
    return { modules: this.cache.size, bytes: this.cache.bytes };
  }

  /** Throws `InvalidError` with a message fit for the task's error result. */
  async resolve(source: ModuleSource): Promise<PreparedModule> {
    if (source.digest !== undefined && !DIGEST.test(source.digest)) throw InvalidError.field('digest', source.digest, 'must be sha256:<64 hex digits>');
    if (source.digest) {
      const hit = this.cache.get(source.digest);
      if (hit) return hit;
    }
    const location = source.inline === undefined ? (source.url ?? (source.registryName ? `registry:${source.registryName}` : undefined)) : undefined;
    if (location !== undefined && source.digest === undefined) {
      const known = this.byLocation.get(location);
      const hit = known === undefined ? undefined : this.cache.get(known);
      if (hit) return hit;
    }
    const bytes = await this.load(source);
    const digest = moduleDigest(bytes);
    if (source.digest !== undefined && source.digest !== digest) {
      throw new InvalidError(`module digest mismatch: expected ${source.digest}, got ${digest}`, [{ field: 'digest', value: digest, rule: `equal to ${source.digest}` }]);
    }
    const cached = this.cache.get(digest);
    if (cached) return cached;
    const prepared = await prepareModule(bytes, this.options.memoryMaxBytes, digest);
    this.cache.set(digest, prepared, bytes.length);
    if (location !== undefined) {
      this.byLocation.set(location, digest);
      // Remembered locations are small, but a proplet fed endless distinct URLs must not grow without bound.
      if (this.byLocation.size > 1000) this.byLocation.delete(this.byLocation.keys().next().value as string);
    }
    return prepared;
  }

  private async load(source: ModuleSource): Promise<Uint8Array> {
    if (source.inline !== undefined && source.inline !== '') {
      const bytes = Buffer.from(source.inline, 'base64');
      if (bytes.length > this.maxModuleBytes) throw new InvalidError(`inline module is ${bytes.length} bytes, above the limit of ${this.maxModuleBytes}`);
      return new Uint8Array(bytes);
    }
    if (source.url) return fetchModule(source.url, { maxBytes: this.maxModuleBytes });
    if (source.registryName) {
      if (!this.options.registry) throw new InvalidError(`module ${source.registryName} must come from the registry, which this proplet has no access to`);
      const bytes = await this.options.registry(source.registryName);
      if (bytes.length > this.maxModuleBytes) throw new InvalidError(`module ${source.registryName} is ${bytes.length} bytes, above the limit of ${this.maxModuleBytes}`);
      return bytes;
    }
    throw new InvalidError('the task has no module: neither file nor image_url is set', [{ field: 'file', rule: 'file or image_url is required' }]);
  }
}
