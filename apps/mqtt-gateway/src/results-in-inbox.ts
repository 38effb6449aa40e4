/** Default bound of `ResultsInInbox`: 100,000 wire ids (about 10 MB), the oldest forgotten first. */
export const DEFAULT_RESULTS_IN_INBOX = 100_000;

/**
 * The wire ids whose result this replica has written to the inbox stream (its publish acknowledged, so the
 * result is durable and will be relayed even if this process crashes). Dispatch reads it to skip relaying a
 * `task_started` that its own result supersedes. Bounded: past `capacity` the oldest wire id is forgotten,
 * which only means that a late `task_started` of it is relayed as before.
 */
export class ResultsInInbox {
  // A Set iterates in insertion order: its first value is the oldest.
  readonly #wireIds = new Set<string>();

  constructor(readonly capacity: number = DEFAULT_RESULTS_IN_INBOX) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Wire ids held. */
  get size(): number {
    return this.#wireIds.size;
  }

  /** Records that the result of `wireId` is in the inbox; call only once its publish was acknowledged. */
  add(wireId: string): void {
    if (this.#wireIds.has(wireId)) return;
    if (this.#wireIds.size >= this.capacity) {
      const oldest = this.#wireIds.values().next();
      if (oldest.done !== true) this.#wireIds.delete(oldest.value);
    }
    this.#wireIds.add(wireId);
  }

  /** True when the result of `wireId` is known to be in the inbox. */
  has(wireId: string): boolean {
    return this.#wireIds.has(wireId);
  }
}
