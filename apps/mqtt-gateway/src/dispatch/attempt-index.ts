import type { TaskEventLike } from './task-view';

/** One attempt as placed by the scheduler. */
export interface AttemptRef {
  taskId: string;
  attempt: number;
  wireId: string;
  propletId: string;
}

/**
 * Wire id → task and attempt, from the task events (apps/scheduler/README.md "Wire ids for the gateway":
 * a wire id of attempt ≥ 2 is a UUIDv5 and cannot be reversed), and per proplet the attempts it was left
 * holding (evacuated, stopped, deleted, timed out), so that a proplet heard from again is told to stop
 * them. Pure and synchronous; every replica folds it from the stream. Archived tasks leave it.
 */
export class AttemptIndex {
  readonly #byWire = new Map<string, AttemptRef>();
  readonly #byTask = new Map<string, string[]>();
  readonly #abandoned = new Map<string, Map<string, AttemptRef>>();

  /** Attempts known. */
  get size(): number {
    return this.#byWire.size;
  }

  /** The attempt a wire id names (UUIDs compared lower-case), or `undefined`. */
  lookup(wireId: string): AttemptRef | undefined {
    return this.#byWire.get(wireId) ?? this.#byWire.get(wireId.toLowerCase());
  }

  /** True when `wireId` was abandoned on a proplet and not yet told to stop since. */
  isAbandoned(wireId: string): boolean {
    const ref = this.lookup(wireId);
    return ref !== undefined && this.#abandoned.get(ref.propletId)?.has(ref.wireId) === true;
  }

  /** Abandoned attempts a proplet still holds as far as we know; they are forgotten (stop is sent once per return). */
  takeAbandoned(propletId: string): AttemptRef[] {
    const held = this.#abandoned.get(propletId);
    if (held === undefined) return [];
    this.#abandoned.delete(propletId);
    return [...held.values()];
  }

  /** Puts back an abandoned attempt whose stop could not be sent, so the next beat tries again. */
  restoreAbandoned(ref: AttemptRef): void {
    const held = this.#abandoned.get(ref.propletId) ?? new Map<string, AttemptRef>();
    held.set(ref.wireId, ref);
    this.#abandoned.set(ref.propletId, held);
  }

  /** Whether a proplet holds abandoned attempts (cheap check on every heartbeat). */
  holdsAbandoned(propletId: string): boolean {
    return this.#abandoned.has(propletId);
  }

  /** Applies one task event; types that do not move attempts change nothing. */
  apply(event: TaskEventLike): void {
    const taskId = event.aggregateId;
    const d = (event.data ?? {}) as Record<string, unknown>;
    switch (event.type) {
      case 'TaskScheduled': {
        const ref: AttemptRef = { taskId, attempt: Number(d['attempt']), wireId: String(d['wireId']), propletId: String(d['propletId']) };
        this.#byWire.set(ref.wireId.toLowerCase(), ref);
        this.#byWire.set(ref.wireId, ref);
        const list = this.#byTask.get(taskId) ?? [];
        list.push(ref.wireId);
        this.#byTask.set(taskId, list);
        return;
      }
      case 'TaskEvacuated':
        this.#abandon(String(d['wireId']), typeof d['fromPropletId'] === 'string' ? d['fromPropletId'] : undefined);
        return;
      case 'TaskStopped':
      case 'TaskDeleted':
        if (typeof d['wireId'] === 'string') this.#abandon(d['wireId'], typeof d['propletId'] === 'string' ? d['propletId'] : undefined);
        return;
      case 'TaskFailed':
        // A proplet that went silent past the last attempt's timeout may come back still running it.
        if (d['reason'] === 'timeout' && typeof d['wireId'] === 'string') this.#abandon(d['wireId'], typeof d['propletId'] === 'string' ? d['propletId'] : undefined);
        return;
      case 'TaskArchived':
        this.#forget(taskId);
        return;
      default:
        return;
    }
  }

  #abandon(wireId: string, propletId: string | undefined): void {
    const ref = this.lookup(wireId);
    if (ref === undefined) return;
    const on = propletId ?? ref.propletId;
    const held = this.#abandoned.get(on) ?? new Map<string, AttemptRef>();
    held.set(ref.wireId, { ...ref, propletId: on });
    this.#abandoned.set(on, held);
  }

  #forget(taskId: string): void {
    for (const wireId of this.#byTask.get(taskId) ?? []) {
      const ref = this.#byWire.get(wireId);
      this.#byWire.delete(wireId);
      this.#byWire.delete(wireId.toLowerCase());
      if (ref !== undefined) {
        const held = this.#abandoned.get(ref.propletId);
        held?.delete(wireId);
        if (held?.size === 0) this.#abandoned.delete(ref.propletId);
      }
    }
    this.#byTask.delete(taskId);
  }
}
