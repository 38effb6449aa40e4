import type { JsMsg } from '@nats-io/jetstream';

/**
 * JetStream messages a consumer holds (queued behind their key, being handled or backing off), kept
 * alive with one sweep timer instead of a timer per message: a message held past a third of `ackWaitMs`
 * is reported `working()`, and the sweep runs every sixth, so the server hears of a held message at
 * least every half ack_wait. Keyed by stream sequence, which also tells a redelivery of a held message.
 */
export class HeldMessages {
  readonly #held = new Map<number, { m: JsMsg; told: number }>();
  readonly #sweep: NodeJS.Timeout;

  constructor(ackWaitMs: number) {
    const workingAfter = Math.max(100, Math.floor(ackWaitMs / 3));
    this.#sweep = setInterval(
      () => {
        const now = performance.now();
        for (const held of this.#held.values()) {
          if (now - held.told < workingAfter) continue;
          held.told = now;
          held.m.working();
        }
      },
      Math.max(50, Math.floor(workingAfter / 2)),
    );
    this.#sweep.unref();
  }

  /** Starts holding `m` (just delivered: the server's ack_wait started now). */
  hold(m: JsMsg): void {
    this.#held.set(m.seq, { m, told: performance.now() });
  }

  /** True while the message of this sequence is held (a redelivery of it is a duplicate in flight). */
  has(seq: number): boolean {
    return this.#held.has(seq);
  }

  /** Stops holding the message (acked, naked or dead-lettered). */
  release(seq: number): void {
    this.#held.delete(seq);
  }

  get size(): number {
    return this.#held.size;
  }

  /** Stops the sweep timer. */
  stop(): void {
    clearInterval(this.#sweep);
  }
}
