/** Options of `WorkQueue`. */
export interface WorkQueueOptions {
  /** Workers running different keys at once; default 2. */
  concurrency?: number;
  /** First retry delay after a failure; doubles per failure; default 200 ms. */
  baseDelayMs?: number;
  /** Longest retry delay; default 30 000 ms. */
  maxDelayMs?: number;
  /** Called when a handler fails (the key is requeued with backoff). */
  onError?: (key: string, error: unknown, attempt: number) => void;
}

/**
 * The reconcile queue (controller-runtime's workqueue, reduced): keys are deduplicated while
 * waiting, one key is never processed by two workers at once (a key added while it runs is run
 * again after), and a failed key is retried with exponential backoff. Level-based reconciling
 * makes this enough: the handler always reads the latest state, so coalescing adds loses nothing.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = 0;
  private stopped = false;
  private paused = false;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly options: WorkQueueOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 2;
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
  }

  /** Adds a key now; a key already waiting is not added twice. */
  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds a key after `ms` (a pending delayed add of the same key is kept if it fires sooner). */
  addAfter(key: string, ms: number): void {
    if (this.stopped || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** Holds processing (keys still collect), e.g. while this replica is not the leader. */
  pause(): void {
    this.paused = true;
  }

  /** Resumes processing after `pause`. */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Number of keys waiting, running or scheduled for a retry. */
  get size(): number {
    return this.queue.length + this.processing.size + this.timers.size;
  }

  /** Consecutive failures of a key (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves when nothing waits or runs (retries scheduled for later do not count). */
  async idle(): Promise<void> {
    if (this.queue.length === 0 && this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking keys, cancels retries and waits for running handlers. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    while (this.processing.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.paused && !this.stopped && this.running < this.concurrency) {
      const i = this.queue.findIndex((k) => !this.processing.has(k));
      if (i < 0) break;
      const [key] = this.queue.splice(i, 1);
      if (key === undefined) break;
      this.queued.delete(key);
      this.processing.add(key);
      this.running++;
      void this.run(key);
    }
    this.notifyIdle();
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(key);
    } catch (e) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.options.onError?.(key, e, attempt);
      this.addAfter(key, Math.min(this.baseDelayMs * 2 ** (attempt - 1), this.maxDelayMs));
    } finally {
      this.processing.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.processing.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
