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
  /** This slot's row in the ledger's columns (`ReservationColumns`). */
  readonly row: number;
}

/**
 * @internal Reservations as columns, for the filter's pass: `cpu[slotOf[i]]` is what is reserved on
 * the candidate at index `i` of the array the columns were made for. Rows of proplets with nothing
 * placed hold zeros.
 */
export interface ReservationColumns {
  readonly slotOf: Int32Array;
  readonly cpu: Float64Array;
  readonly memory: Float64Array;
  readonly tasks: Float64Array;
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

/** Forgets remembered by id, for maps that follow them one id at a time (`forgottenSince`). */
const FORGET_LOG = 256;

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
  // Columns mirroring the slots (row = `Slot.row`), kept in step by `reserve`/`release`, so that a
  // pass over 10,000 proplets reads three typed arrays instead of 10,000 scattered slot objects.
  private cpuCol: Float64Array = new Float64Array(1024);
  private memoryCol: Float64Array = new Float64Array(1024);
  private tasksCol: Float64Array = new Float64Array(1024);
  private rows = 0;
  private readonly freeRows: number[] = [];
  // Bumped by `forget`: a row may then be reused, so every candidate-to-row map is stale (or must
  // look the forgotten ids up again: `forgottenSince`).
  private forgets = 0;
  // The ids of the last `FORGET_LOG` forgets, by forget number modulo `FORGET_LOG`.
  private readonly forgotten: string[] = [];
  private readonly rowMaps = new WeakMap<readonly unknown[], { epoch: number; slotOf: Int32Array }>();

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
    this.sync(r);
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
      this.sync(r);
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
      s = { propletId, cpuMillis: 0, memoryBytes: 0, tasks: 0, retired: false, row: this.newRow() };
      this.byProplet.set(propletId, s);
    }
    return s;
  }

  private newRow(): number {
    const reused = this.freeRows.pop();
    if (reused !== undefined) return reused;
    if (this.rows === this.cpuCol.length) {
      const grow = (a: Float64Array): Float64Array => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.cpuCol = grow(this.cpuCol);
      this.memoryCol = grow(this.memoryCol);
      this.tasksCol = grow(this.tasksCol);
    }
    return this.rows++;
  }

  private sync(s: Slot): void {
    this.cpuCol[s.row] = s.cpuMillis;
    this.memoryCol[s.row] = s.memoryBytes;
    this.tasksCol[s.row] = s.tasks;
  }

  /**
   * @internal The reservations of a candidate array as columns. The candidate-to-row map is built
   * once per array (creating empty slots as needed) and again after a `forget`; the array must not
   * change while it is used. (`place` keeps its row map in its `FleetIndex` instead, which follows
   * a `Fleet`'s changes: `rowOf`, `epoch`, `forgottenSince`, `columns`.)
   */
  columnsFor(candidates: ReadonlyArray<{ readonly id: string }>): ReservationColumns {
    let m = this.rowMaps.get(candidates);
    if (m === undefined || m.epoch !== this.forgets) {
      const slotOf = new Int32Array(candidates.length);
      for (let i = 0; i < candidates.length; i++) slotOf[i] = this.slot((candidates[i] as { id: string }).id).row;
      m = { epoch: this.forgets, slotOf };
      this.rowMaps.set(candidates, m);
    }
    return this.columns(m.slotOf);
  }

  /** @internal The reservation columns read through a candidate-to-row map the caller keeps (`FleetIndex`). */
  columns(slotOf: Int32Array): ReservationColumns {
    return { slotOf, cpu: this.cpuCol, memory: this.memoryCol, tasks: this.tasksCol };
  }

  /** @internal The row of a proplet's reservation (an empty slot is made if needed); valid until the ledger's `epoch` moves. */
  rowOf(propletId: string): number {
    return this.slot(propletId).row;
  }

  /** @internal Number of `forget`s so far: a candidate-to-row map made at another epoch may point at reused rows. */
  get epoch(): number {
    return this.forgets;
  }

  /**
   * @internal The ids forgotten since `epoch` (their rows may now be someone else's), or
   * `undefined` when that is too long ago to say (the caller then maps every candidate again).
   */
  forgottenSince(epoch: number): string[] | undefined {
    if (epoch < 0 || epoch > this.forgets || this.forgets - epoch > FORGET_LOG) return undefined;
    const out: string[] = [];
    for (let e = epoch; e < this.forgets; e++) out.push(this.forgotten[e % FORGET_LOG] as string);
    return out;
  }

  /** Drops a deregistered proplet's empty slot (a proplet still holding tasks is kept); returns whether it was dropped. */
  forget(propletId: string): boolean {
    const s = this.byProplet.get(propletId);
    if (s === undefined || s.tasks > 0) return false;
    s.retired = true;
    this.byProplet.delete(propletId);
    this.freeRows.push(s.row);
    this.forgotten[this.forgets % FORGET_LOG] = propletId;
    this.forgets++;
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
