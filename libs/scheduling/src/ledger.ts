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

interface MutableReservation {
  cpuMillis: number;
  memoryBytes: number;
  tasks: number;
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
  private readonly byProplet = new Map<string, MutableReservation>();

  /** Holds `amount` on `propletId` for `taskId`; a task already held elsewhere moves (its old hold is released). */
  reserve(taskId: string, propletId: string, amount: ParsedRequirements): void {
    const held = this.byTask.get(taskId);
    if (held !== undefined) {
      if (held.propletId === propletId && held.cpuMillis === amount.cpuMillis && held.memoryBytes === amount.memoryBytes) return;
      this.release(taskId);
    }
    this.byTask.set(taskId, { propletId, cpuMillis: amount.cpuMillis, memoryBytes: amount.memoryBytes });
    const r = this.byProplet.get(propletId);
    if (r === undefined) {
      this.byProplet.set(propletId, { cpuMillis: amount.cpuMillis, memoryBytes: amount.memoryBytes, tasks: 1 });
    } else {
      r.cpuMillis += amount.cpuMillis;
      r.memoryBytes += amount.memoryBytes;
      r.tasks += 1;
    }
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
      if (r.tasks <= 0) this.byProplet.delete(held.propletId);
    }
    return held.propletId;
  }

  get(propletId: string): Reservation | undefined {
    return this.byProplet.get(propletId);
  }

  /** The reservation on a proplet, zero when nothing is placed there. */
  reserved(propletId: string): Reservation {
    return this.byProplet.get(propletId) ?? ZERO;
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
