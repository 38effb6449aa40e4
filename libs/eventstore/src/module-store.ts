import type { ObjectStore } from '@nats-io/obj';
import type { CheckedModule, ModuleRef } from '@propeller/events';

/** Digests this process knows are stored (bounded; the oldest is forgotten first). */
const KNOWN_DIGESTS_MAX = 10_000;

/**
 * Stores checked Wasm modules in the module object store (`names.modules`) once, by digest: content
 * addressed, so the same bytes are stored once whoever uploads them. A digest this process has stored or
 * seen stored is not looked up again (a module is never rewritten under its digest), and concurrent puts
 * of one digest share one store.
 */
export class ModuleStore {
  readonly #known = new Set<string>();
  readonly #storing = new Map<string, Promise<ModuleRef>>();

  /** @param open the object store, opened when first needed (a failed open is retried by the next put). */
  constructor(private readonly open: () => Promise<ObjectStore>) {}

  /** Stores the module unless its digest is stored already; resolves with its reference. */
  put(module: CheckedModule): Promise<ModuleRef> {
    const digest = module.ref.digest;
    if (this.#known.has(digest)) return Promise.resolve(module.ref);
    let storing = this.#storing.get(digest);
    if (storing === undefined) {
      storing = (async () => {
        const store = await this.open();
        if ((await store.info(digest)) === null) {
          await store.putBlob({ name: digest, description: `Wasm module, ${module.ref.size} bytes` }, module.bytes);
        }
        this.#known.add(digest);
        if (this.#known.size > KNOWN_DIGESTS_MAX) this.#known.delete(this.#known.values().next().value as string);
        return module.ref;
      })().finally(() => this.#storing.delete(digest));
      this.#storing.set(digest, storing);
    }
    return storing;
  }
}
