import type { PropletHealth } from '@propeller/events';
import type { Candidate } from './types';

/**
 * A column-wise copy of one candidate array (struct of arrays), so that the filter's pass over
 * 10,000 proplets reads small typed arrays and compares integers instead of following object
 * pointers, hashing capability sets, reading label records and comparing id strings.
 *
 * Built once per array and kept in a `WeakMap` while the array lives: the scheduler keeps the same
 * array until a proplet changes (then it builds a new one, and so a new index). Candidates are
 * values (`toCandidate` output, every field `readonly`): a changed proplet is a new object. An
 * array edited in place is noticed by `fleetIndex` (it compares the elements by identity, one
 * pointer comparison each) and indexed again.
 */
export class FleetIndex {
  /** Number of candidates. */
  readonly n: number;
  /** The candidates indexed, by identity (to notice an array edited in place). */
  readonly items: readonly Candidate[];
  /** `HEALTH_CODES` index of each candidate's health; 0 (healthy) is the only schedulable one. */
  readonly health: Uint8Array;
  readonly cordoned: Uint8Array;
  /** 0 for `k8s`, 1 for `external` (`TYPE_CODES`). */
  readonly type: Uint8Array;
  /** 1 for a WAMR device. */
  readonly wamr: Uint8Array;
  /** Interned device type (`deviceTypeIds`). */
  readonly deviceType: Int32Array;
  readonly deviceTypeIds = new Map<string, number>();
  /** Capability bitsets: `capWords` 32-bit words per candidate, bit `capabilityIds.get(name)`. */
  readonly capBits: Uint32Array;
  readonly capWords: number;
  readonly capabilityIds = new Map<string, number>();
  /** Reported CPU (millicores) and memory (bytes); `NaN` where not reported. */
  readonly cpu: Float64Array;
  readonly memory: Float64Array;
  /** `maxTasks`, `NaN` where there is no limit. */
  readonly maxTasks: Float64Array;
  /** Position of each candidate in id order (stable: equal ids keep array order), so id comparisons are integer comparisons. */
  readonly rank: Int32Array;
  /** The ids in id order (for the round-robin cursor). */
  readonly sortedIds: readonly string[];
  /** Indexes of the WAMR devices, in array order. */
  readonly wamrIndexes: Int32Array;
  /** Per WAMR device index, the indexes of every WAMR device on its channel (itself included), in array order. */
  readonly wamrPeers = new Map<number, Int32Array>();
  /**
   * Profiles: candidates that look the same to the task-independent static rules (health, cordon,
   * type, device type, WAMR or not, capability set) share one. A task's verdict on those rules is
   * taken once per profile, and the candidates of a rejected profile are counted by the profile's
   * size instead of one by one. A fleet has few profiles (at most one per candidate).
   */
  readonly profile: Int32Array;
  readonly profileHealth: number[] = [];
  readonly profileCordoned: number[] = [];
  readonly profileType: number[] = [];
  readonly profileDeviceType: number[] = [];
  readonly profileWamr: number[] = [];
  /** The candidate index of the first member of each profile (its capability bits are read there). */
  readonly profileSample: number[] = [];
  readonly profileSize: number[] = [];
  /** Up to `PROFILE_EXAMPLES` member indexes per profile, in array order (the first examples of a reason). */
  readonly profileFirst: number[][] = [];
  /** Candidate index by rank (id order). */
  readonly byRank: Int32Array;
  /** Label columns, built on first use of a key: interned value per candidate, -1 when absent. */
  private readonly labelColumns = new Map<string, LabelColumn>();

  /** @param previous an index whose ranking is reused when it has the same ids at the same places (a proplet changed, none joined or left). */
  constructor(candidates: readonly Candidate[], previous?: FleetIndex) {
    const n = candidates.length;
    this.n = n;
    this.items = candidates.slice();
    this.health = new Uint8Array(n);
    this.cordoned = new Uint8Array(n);
    this.type = new Uint8Array(n);
    this.wamr = new Uint8Array(n);
    this.deviceType = new Int32Array(n);
    this.cpu = new Float64Array(n);
    this.memory = new Float64Array(n);
    this.maxTasks = new Float64Array(n);
    this.rank = new Int32Array(n);
    for (const c of candidates) for (const cap of c.capabilities) if (!this.capabilityIds.has(cap)) this.capabilityIds.set(cap, this.capabilityIds.size);
    this.capWords = Math.max(1, Math.ceil(this.capabilityIds.size / 32));
    this.capBits = new Uint32Array(n * this.capWords);
    const wamr: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = candidates[i] as Candidate;
      // An unexpected health string passes the health rule, as `notHealthy` (a lookup that finds no rejection) lets it.
      const h = HEALTH_CODES.indexOf(c.health);
      this.health[i] = h < 0 ? 0 : h;
      this.cordoned[i] = c.cordoned ? 1 : 0;
      this.type[i] = c.type === 'k8s' ? 0 : 1;
      if (c.dialect === 'wamr') {
        this.wamr[i] = 1;
        wamr.push(i);
      }
      let dt = this.deviceTypeIds.get(c.deviceType);
      if (dt === undefined) {
        dt = this.deviceTypeIds.size;
        this.deviceTypeIds.set(c.deviceType, dt);
      }
      this.deviceType[i] = dt;
      for (const cap of c.capabilities) {
        const b = this.capabilityIds.get(cap) as number;
        const w = i * this.capWords + (b >>> 5);
        this.capBits[w] = (this.capBits[w] as number) | (1 << (b & 31));
      }
      this.cpu[i] = c.capacity.cpuMillis ?? Number.NaN;
      this.memory[i] = c.capacity.memoryBytes ?? Number.NaN;
      this.maxTasks[i] = c.maxTasks ?? Number.NaN;
    }
    this.wamrIndexes = Int32Array.from(wamr);
    const byChannel = new Map<string, number[]>();
    for (const i of wamr) {
      const ch = (candidates[i] as Candidate).channel;
      const g = byChannel.get(ch);
      if (g === undefined) byChannel.set(ch, [i]);
      else g.push(i);
    }
    for (const g of byChannel.values()) {
      const peers = Int32Array.from(g);
      for (const i of g) this.wamrPeers.set(i, peers);
    }
    if (previous !== undefined && sameIds(candidates, previous.items)) {
      // The sort is most of a rebuild; when only proplets' states changed, the id order has not.
      this.rank.set(previous.rank);
      this.sortedIds = previous.sortedIds;
      this.byRank = previous.byRank;
    } else {
      // Same order as the `<` the policies used on ids; Array.prototype.sort is stable, so equal ids keep array order.
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
        const x = (candidates[a] as Candidate).id;
        const y = (candidates[b] as Candidate).id;
        return x < y ? -1 : x > y ? 1 : 0;
      });
      const sorted: string[] = new Array<string>(n);
      for (let r = 0; r < n; r++) {
        const i = order[r] as number;
        this.rank[i] = r;
        sorted[r] = (candidates[i] as Candidate).id;
      }
      this.sortedIds = sorted;
      this.byRank = Int32Array.from(order);
    }
    this.profile = new Int32Array(n);
    const profileIds = new Map<string | number, number>();
    for (let i = 0; i < n; i++) {
      const head = ((((this.deviceType[i] as number) * 2 + (this.wamr[i] as number)) * 2 + (this.type[i] as number)) * 2 + (this.cordoned[i] as number)) * 8 + (this.health[i] as number);
      let key: string | number;
      if (this.capWords === 1 && head < 2 ** 20) key = head * 2 ** 32 + (this.capBits[i] as number);
      else key = `${head}:${Array.from(this.capBits.subarray(i * this.capWords, (i + 1) * this.capWords)).join(',')}`;
      let p = profileIds.get(key);
      if (p === undefined) {
        p = this.profileSize.length;
        profileIds.set(key, p);
        this.profileHealth.push(this.health[i] as number);
        this.profileCordoned.push(this.cordoned[i] as number);
        this.profileType.push(this.type[i] as number);
        this.profileDeviceType.push(this.deviceType[i] as number);
        this.profileWamr.push(this.wamr[i] as number);
        this.profileSample.push(i);
        this.profileSize.push(0);
        this.profileFirst.push([]);
      }
      this.profile[i] = p;
      this.profileSize[p] = (this.profileSize[p] as number) + 1;
      const first = this.profileFirst[p] as number[];
      if (first.length < PROFILE_EXAMPLES) first.push(i);
    }
  }

  /** Number of profiles. */
  get profiles(): number {
    return this.profileSize.length;
  }

  /** Whether this index still describes `candidates` (same length, same objects in the same places). */
  matches(candidates: readonly Candidate[]): boolean {
    const items = this.items;
    if (candidates.length !== items.length) return false;
    for (let i = 0; i < items.length; i++) if (candidates[i] !== items[i]) return false;
    return true;
  }

  /**
   * The channel rule's question for WAMR device `i` (`otherWamrHeard` over the devices
   * `noteWamrHeard` keeps): is another WAMR device, by id, on its channel heard from within the window?
   * Only the device's channel peers are looked at.
   */
  otherWamrHeard(i: number, now: number, windowMs: number): boolean {
    const peers = this.wamrPeers.get(i);
    if (peers === undefined) return false;
    const id = (this.items[i] as Candidate).id;
    for (let k = 0; k < peers.length; k++) {
      const p = this.items[peers[k] as number] as Candidate;
      if (p.id !== id && p.lastHeardAt !== undefined && now - p.lastHeardAt <= windowMs) return true;
    }
    return false;
  }

  /** Number of ids `<=` `id` (the first rank whose id is `> id`). */
  ranksUpTo(id: string): number {
    let lo = 0;
    let hi = this.sortedIds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sortedIds[mid] as string) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The column of label `key`: per candidate, the interned value (-1 when the label is absent). */
  labelColumn(key: string): LabelColumn {
    let col = this.labelColumns.get(key);
    if (col === undefined) {
      const values = new Map<string, number>();
      const ids = new Int32Array(this.n);
      for (let i = 0; i < this.n; i++) {
        // The same read as `labelMismatch` (`c.labels[k]`); only string values can equal a selector value.
        const v: unknown = (this.items[i] as Candidate).labels[key];
        if (typeof v !== 'string') {
          ids[i] = -1;
          continue;
        }
        let id = values.get(v);
        if (id === undefined) {
          id = values.size;
          values.set(v, id);
        }
        ids[i] = id;
      }
      col = { values, ids };
      this.labelColumns.set(key, col);
    }
    return col;
  }
}

/** One label key over the fleet: its distinct values and, per candidate, the value's number (-1: absent). */
export interface LabelColumn {
  readonly values: ReadonlyMap<string, number>;
  readonly ids: Int32Array;
}

/** Member indexes kept per profile for examples (the explanation shows three per reason). */
export const PROFILE_EXAMPLES = 3;

/** Health values by code; 0 is the schedulable one. */
export const HEALTH_CODES: readonly PropletHealth[] = ['healthy', 'unknown', 'offline', 'failed', 'deregistered'];

function sameIds(a: readonly Candidate[], b: readonly Candidate[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] as Candidate).id !== (b[i] as Candidate).id) return false;
  return true;
}

const indexes = new WeakMap<readonly Candidate[], FleetIndex>();
// The index built last, whose id ranking the next build may reuse.
let lastBuilt: FleetIndex | undefined;

/** The index of a candidate array: cached while the array lives, rebuilt when its elements changed. */
export function fleetIndex(candidates: readonly Candidate[]): FleetIndex {
  let ix = indexes.get(candidates);
  if (ix === undefined || !ix.matches(candidates)) {
    ix = new FleetIndex(candidates, ix ?? lastBuilt);
    indexes.set(candidates, ix);
    lastBuilt = ix;
  }
  return ix;
}
