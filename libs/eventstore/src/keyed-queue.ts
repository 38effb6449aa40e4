/**
 * Runs tasks one after another per key and concurrently across keys: the ordering rule of
 * process managers (one aggregate's events in stream order, other aggregates unaffected).
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Queues `task` behind the earlier tasks of `key`; the returned promise settles with it. */
  push(key: string, task: () => Promise<void>): Promise<void> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    // A failed task must not block its successors: the chain continues either way.
    const run = prev.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }

  /** Keys with queued or running tasks. */
  get size(): number {
    return this.#tails.size;
  }

  /** Resolves once every task queued so far has settled. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}

/** A retry delay schedule: a list (the last entry repeats) or a function of the failed attempt (1-based). */
export type Backoff = readonly number[] | ((attempt: number) => number);

/** Default delays between tries of a process-manager handler, in ms. */
export const DEFAULT_BACKOFF: readonly number[] = [200, 1_000, 2_000, 5_000];

/** The delay after failed attempt `attempt` (1 = the first try failed). */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  if (typeof backoff === 'function') return Math.max(0, backoff(attempt));
  if (backoff.length === 0) return 0;
  return Math.max(0, backoff[Math.min(attempt, backoff.length) - 1] ?? 0);
}
