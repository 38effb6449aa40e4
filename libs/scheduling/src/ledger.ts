import type { ParsedRequirements } from './types';

/** What is already placed on one proplet. */
export interface Reservation {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly tasks: number;
}

/** Read access to reservations, all the filter needs; `CapacityLedger` implements it. */
export interface LedgerView {
  /** The reservation on a proplet, or `undefined` when nothing is placed there. */
  get(propletId: string): Reservation | undefined;
}

/** A proplet's reservation, one object per proplet for the ledger's life, updated in place. */
interface Slot {
  readonly propletId: string;
  cpuMillis: number;
  memoryBytes: number;
  tasks: number;
  /** Set by `forget`: a cached reference to this slot must be looked up again. */
  retired: boolean;
}

/**
 * Reservations of one candidate array, by index. Built once per array (the scheduler keeps its
 * snapshot array between decisions), it turns the ledger read of each of 10,000 proplets into an
 * array access instead of a map lookup. Only a hint: an entry whose proplet id differs from the
 * candidate at that index (the array was edited in place) is looked up again.
 */
export class ReservationIndex {
  private readonly slots: Array<Slot | undefined> = [];

  constructor(private readonly ledger: CapacityLedger) {}

  /** The reservation of `propletId`, the candidate at index `i`. */
  at(i: number, propletId: string): Reservation {
    const s = this.slots[i];
    if (s !== undefined && s.propletId === propletId && !s.retired) return s;
    const fresh = this.ledger.slot(propletId);
    this.slots[i] = fresh;
    return fresh;
  }
}

const ZERO: Reservation = Object.freeze({ cpuMillis: 0, memoryBytes: 0, tasks: 0 });

/**
 * The capacity ledger: what each placed, unfinished task holds on its proplet.
 *
 * A small **mutable** class owned by the scheduler's single placement loop (the lease holder), not
 * an immutable value: a copy per reservation would cost O(proplets) at every decision. `place()` and
 * `matchProplet()` only read it; the loop calls `reserve` once `TaskScheduled` is appended and
 * `release` when the task finishes, is stopped or is evacuated. Both are idempotent per task id, so
 * rebuilding the ledger by replaying events is safe.
 */
export class CapacityLedger implements LedgerView {
  private readonly byTask = new Map<string, { propletId: string; cpuMillis: number; memoryBytes: number }>();
  private readonly byProplet = new Map<string, Slot>();
  private readonly indexes = new WeakMap<readonly unknown[], ReservationIndex>();

  /** Holds `amount` on `propletId` for `taskId`; a task already held elsewhere moves (its old hold is released). */
  reserve(taskId: string, propletId: string, amount: ParsedRequirements): void {
    const held = this.byTask.get(taskId);
    if (held !== undefined) {
      if (held.propletId === propletId && held.cpuMillis === amount.cpuMillis && held.memoryBytes === amount.memoryBytes) return;
      this.release(taskId);
    }
    this.byTask.set(taskId, { propletId, cpuMillis: amount.cpuMillis, memoryBytes: amount.memoryBytes });
    const r = this.slot(propletId);
    r.cpuMillis += amount.cpuMillis;
    r.memoryBytes += amount.memoryBytes;
    r.tasks += 1;
  }

  /** Frees what `taskId` holds; returns the proplet it was on, or `undefined` if it held nothing. */
  release(taskId: string): string | undefined {
    const held = this.byTask.get(taskId);
    if (held === undefined) return undefined;
    this.byTask.delete(taskId);
    const r = this.byProplet.get(held.propletId);
    if (r !== undefined) {
      r.cpuMillis -= held.cpuMillis;
      r.memoryBytes -= held.memoryBytes;
      r.tasks -= 1;
    }
    return held.propletId;
  }

  /** The reservation on a proplet, or `undefined` when nothing is placed there. */
  get(propletId: string): Reservation | undefined {
    const s = this.byProplet.get(propletId);
    return s === undefined || s.tasks === 0 ? undefined : s;
  }

  /**
   * @internal The proplet's slot, created at zero if needed. Slots are kept at zero after their
   * last release, so a `ReservationIndex` stays valid; `forget` drops one.
   */
  slot(propletId: string): Slot {
    let s = this.byProplet.get(propletId);
    if (s === undefined) {
      s = { propletId, cpuMillis: 0, memoryBytes: 0, tasks: 0, retired: false };
      this.byProplet.set(propletId, s);
    }
    return s;
  }

  /** Drops a deregistered proplet's empty slot (a proplet still holding tasks is kept); returns whether it was dropped. */
  forget(propletId: string): boolean {
    const s = this.byProplet.get(propletId);
    if (s === undefined || s.tasks > 0) return false;
    s.retired = true;
    this.byProplet.delete(propletId);
    return true;
  }

  /** The reservation index of a candidate array (built on first use, kept while the array lives). */
  indexFor(candidates: readonly unknown[]): ReservationIndex {
    let ix = this.indexes.get(candidates);
    if (ix === undefined) {
      ix = new ReservationIndex(this);
      this.indexes.set(candidates, ix);
    }
    return ix;
  }

  /** The reservation on a proplet, zero when nothing is placed there. */
  reserved(propletId: string): Reservation {
    const s = this.byProplet.get(propletId);
    return s === undefined ? ZERO : { cpuMillis: s.cpuMillis, memoryBytes: s.memoryBytes, tasks: s.tasks };
  }

  /** The proplet a task holds capacity on, if any. */
  holder(taskId: string): string | undefined {
    return this.byTask.get(taskId)?.propletId;
  }

  /** Number of tasks holding capacity. */
  get size(): number {
    return this.byTask.size;
  }
}
