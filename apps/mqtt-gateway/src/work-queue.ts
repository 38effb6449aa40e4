import { KeyedQueue } from '@propeller/eventstore';

/**
 * A bounded work queue: at most `capacity` tasks queued or running, tasks of one key in order
 * (a proplet's last-will and its next heartbeat are never swapped), other keys concurrently.
 * `push` resolves once the task is accepted, so a caller that awaits it (the MQTT read loop)
 * stops reading while the queue is full: backpressure instead of unbounded promises.
 */
export class BoundedKeyedQueue {
  readonly #keyed = new KeyedQueue();
  readonly #waiting: Array<() => void> = [];
  #depth = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Tasks queued or running. */
  get depth(): number {
    return this.#depth;
  }

  /** Waits for room, then queues `task` behind the earlier tasks of `key`. A failing task is the task's business: it must not throw. */
  async push(key: string, task: () => Promise<void>): Promise<void> {
    while (this.#depth >= this.capacity) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#depth += 1;
    void this.#keyed
      .push(key, task)
      .catch(() => undefined)
      .finally(() => {
        this.#depth -= 1;
        this.#waiting.shift()?.();
      });
  }

  /** Resolves once every accepted task has settled. */
  idle(): Promise<void> {
    return this.#keyed.idle();
  }
}
