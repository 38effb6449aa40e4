import type { PropletHealth } from '@propeller/events';
import type { CapacityLedger, ReservationColumns } from './ledger';
import type { Candidate } from './types';

/**
 * A column-wise copy of the candidates (struct of arrays), so that the filter's pass over 10,000
 * proplets reads small typed arrays and compares integers instead of following object pointers,
 * hashing capability sets, reading label records and comparing id strings.
 *
 * Two lives:
 * - **of an array** (`fleetIndex(candidates)`): built once per array and kept in a `WeakMap` while
 *   the array lives; an array edited in place is noticed (one identity comparison per element) and
 *   indexed again. Candidates are values (`toCandidate` output, every field `readonly`).
 * - **of a `Fleet`** (live): the fleet changes one slot at a time (`set`, `push`, `swapRemove`), and
 *   every column, profile, label column, channel group, id ranking and ledger row map follows in
 *   place, so one proplet changing costs O(1) (O(n) integer moves when one joins or leaves, for the
 *   id ranking), never a rebuild.
 *
 * Typed arrays are allocated with spare capacity (`cap`); only the first `n` entries mean anything.
 */
export class FleetIndex {
  /** Number of candidates. */
  n = 0;
  /** The candidates indexed: a copy of the array (array life) or the fleet's own live array. */
  readonly items: Candidate[];
  /** Whether this index belongs to a `Fleet` (its `items` change in place, by the fleet only). */
  readonly live: boolean;
  private cap: number;
  /** `HEALTH_CODES` index of each candidate's health; 0 (healthy) is the only schedulable one. */
  health: Uint8Array;
  cordoned: Uint8Array;
  /** 0 for `k8s`, 1 for `external` (`TYPE_CODES`). */
  type: Uint8Array;
  /** 1 for a WAMR device. */
  wamr: Uint8Array;
  /** Interned device type (`deviceTypeIds`). */
  deviceType: Int32Array;
  readonly deviceTypeIds = new Map<string, number>();
  /** Capability bitsets: `capWords` 32-bit words per candidate, bit `capabilityIds.get(name)`. */
  capBits: Uint32Array;
  capWords = 1;
  readonly capabilityIds = new Map<string, number>();
  /** Reported CPU (millicores) and memory (bytes); `NaN` where not reported. */
  cpu: Float64Array;
  memory: Float64Array;
  /** `maxTasks`, `NaN` where there is no limit. */
  maxTasks: Float64Array;
  /** Position of each candidate in id order (stable: equal ids keep array order), so id comparisons are integer comparisons. */
  rank: Int32Array;
  /** The ids in id order (for the round-robin cursor and the pin). */
  sortedIds: string[];
  /** Candidate index by rank (id order). */
  byRank: Int32Array;
  /** WAMR devices by channel: interned channel per candidate (-1 for a non-WAMR candidate), members per channel. */
  private channelOf: Int32Array;
  private readonly channelIds = new Map<string, number>();
  private readonly channelMembers: number[][] = [];
  /**
   * Profiles: candidates that look the same to the task-independent static rules (health, cordon,
   * type, device type, WAMR or not, capability set) share one. A task's verdict on those rules is
   * taken once per profile, and the candidates of a rejected profile are counted by the profile's
   * size instead of one by one. A fleet has few profiles (at most one per candidate). A profile that
   * loses its last member is freed and its number reused; its size is 0 meanwhile.
   */
  profile: Int32Array;
  readonly profileHealth: number[] = [];
  readonly profileCordoned: number[] = [];
  readonly profileType: number[] = [];
  readonly profileDeviceType: number[] = [];
  readonly profileWamr: number[] = [];
  /** The candidate index of a member of each profile (its capability bits are read there). */
  readonly profileSample: number[] = [];
  readonly profileSize: number[] = [];
  /**
   * Up to `PROFILE_EXAMPLES` member indexes per profile, in array order (the first examples of a
   * reason); fewer only when the profile has fewer members. `undefined` when a member among them
   * left and the next one is not known: `firstOf` finds them again on demand.
   */
  private readonly profileFirst: Array<number[] | undefined> = [];
  private profileIds = new Map<string | number, number>();
  private readonly freeProfiles: number[] = [];
  // `membersByProfile`: the members in profile order, each profile's range, and whether they are stale.
  private memberOrder = new Int32Array(0);
  private memberStart = new Int32Array(0);
  private memberCursor = new Int32Array(0);
  private membersDirty = true;
  /** Label columns, built on first use of a key: interned value per candidate, -1 when absent. */
  private readonly labelColumns = new Map<string, MutableLabelColumn>();
  /** The ledger rows of the candidates for one ledger (`reservationColumns`), kept in step with the slots. */
  private rows: Int32Array;
  private rowsLedger: CapacityLedger | undefined;
  private rowsEpoch = -1;
  /** Slot by id, for a live index (the fleet's map), to follow the ledger's `forget`s without a rebuild. */
  private slotById: ReadonlyMap<string, number> | undefined;
  /** Scratch arrays of `n` indexes for a decision (its fallback candidates, its WAMR devices), reused instead of allocated per decision. */
  scratch: Int32Array;
  scratch2: Int32Array;

  /**
   * @param previous an index whose ranking is reused when it has the same ids at the same places (a proplet changed, none joined or left).
   * @param own index `candidates` itself, as a `Fleet` does (it then changes only through this index's methods).
   */
  constructor(candidates: readonly Candidate[], previous?: FleetIndex, own = false) {
    const n = candidates.length;
    this.live = own;
    this.items = own ? (candidates as Candidate[]) : candidates.slice();
    this.n = n;
    this.cap = Math.max(n, own ? 16 : 0);
    const cap = this.cap;
    this.health = new Uint8Array(cap);
    this.cordoned = new Uint8Array(cap);
    this.type = new Uint8Array(cap);
    this.wamr = new Uint8Array(cap);
    this.deviceType = new Int32Array(cap);
    this.cpu = new Float64Array(cap);
    this.memory = new Float64Array(cap);
    this.maxTasks = new Float64Array(cap);
    this.rank = new Int32Array(cap);
    this.byRank = new Int32Array(cap);
    this.channelOf = new Int32Array(cap);
    this.profile = new Int32Array(cap);
    this.rows = new Int32Array(cap);
    this.scratch = new Int32Array(cap);
    this.scratch2 = new Int32Array(cap);
    for (const c of candidates) for (const cap of c.capabilities) if (!this.capabilityIds.has(cap)) this.capabilityIds.set(cap, this.capabilityIds.size);
    this.capWords = Math.max(1, Math.ceil(this.capabilityIds.size / 32));
    this.capBits = new Uint32Array(cap * this.capWords);
    for (let i = 0; i < n; i++) {
      this.writeColumns(i, candidates[i] as Candidate);
      this.joinChannel(i);
    }
    if (previous !== undefined && sameIds(candidates, previous.items, previous.n)) {
      // The sort is most of a rebuild; when only proplets' states changed, the id order has not.
      this.rank.set(previous.rank.subarray(0, n));
      this.sortedIds = previous.sortedIds.slice(0, n);
      this.byRank.set(previous.byRank.subarray(0, n));
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
        this.byRank[r] = i;
        sorted[r] = (candidates[i] as Candidate).id;
      }
      this.sortedIds = sorted;
    }
    this.buildProfiles();
  }

  /** Number of profiles (freed ones included, with size 0). */
  get profiles(): number {
    return this.profileSize.length;
  }

  /** Whether this index still describes `candidates` (same length, same objects in the same places). */
  matches(candidates: readonly Candidate[]): boolean {
    const items = this.items;
    if (candidates.length !== this.n) return false;
    for (let i = 0; i < this.n; i++) if (candidates[i] !== items[i]) return false;
    return true;
  }

  // ---- changes, one slot at a time (a `Fleet`'s index) ----

  /** Replaces the candidate at index `i` (same id, or another: its ranking follows). */
  set(i: number, c: Candidate): void {
    const old = this.items[i] as Candidate;
    if (!this.internCapabilities(c)) {
      // A capability that needed another bitset word: the layout and every profile key changed.
      this.items[i] = c;
      this.relayout();
      if (old.id !== c.id) this.reRank(i);
      this.rowFor(i);
      return;
    }
    // A heartbeat (only `lastHeardAt` new) or a capacity change keeps the profile: nothing to move there.
    const oldKey = this.profileKey(i);
    this.leaveChannel(i);
    this.writeColumns(i, c);
    this.joinChannel(i);
    if (this.profileKey(i) !== oldKey) {
      this.leaveProfile(i, oldKey);
      this.joinProfile(i);
    }
    this.writeLabels(i);
    if (old.id !== c.id) {
      this.reRank(i);
      this.rowFor(i);
    }
  }

  /** Appends a candidate (index `n`). */
  push(c: Candidate): void {
    if (this.n === this.cap) this.grow(Math.max(16, this.cap * 2));
    const i = this.n++;
    this.items[i] = c;
    this.channelOf[i] = -1;
    if (!this.internCapabilities(c)) this.relayout();
    else {
      this.writeColumns(i, c);
      this.joinChannel(i);
      this.joinProfile(i);
    }
    this.writeLabels(i);
    this.insertRank(i);
    this.rowFor(i);
  }

  /** Removes the candidate at index `i`; the last one takes its place (its index becomes `i`). */
  swapRemove(i: number): void {
    const last = this.n - 1;
    this.leaveProfile(i, this.profileKey(i));
    this.leaveChannel(i);
    this.removeRank(i);
    if (i !== last) this.move(last, i);
    this.channelOf[last] = -1;
    this.items.pop();
    this.n--;
  }

  /** Moves the candidate at `from` (the last) to the free index `to` (< `from`). */
  private move(from: number, to: number): void {
    const items = this.items;
    this.membersDirty = true;
    items[to] = items[from] as Candidate;
    this.health[to] = this.health[from] as number;
    this.cordoned[to] = this.cordoned[from] as number;
    this.type[to] = this.type[from] as number;
    this.wamr[to] = this.wamr[from] as number;
    this.deviceType[to] = this.deviceType[from] as number;
    this.cpu[to] = this.cpu[from] as number;
    this.memory[to] = this.memory[from] as number;
    this.maxTasks[to] = this.maxTasks[from] as number;
    this.rows[to] = this.rows[from] as number;
    const w = this.capWords;
    this.capBits.copyWithin(to * w, from * w, (from + 1) * w);
    for (const col of this.labelColumns.values()) col.ids[to] = col.ids[from] as number;
    // Its rank does not change, only the index the rank points at.
    const r = this.rank[from] as number;
    this.rank[to] = r;
    this.byRank[r] = to;
    // Its channel group and profile: the same, with the new index.
    const ch = this.channelOf[from] as number;
    this.channelOf[to] = ch;
    if (ch >= 0) {
      const members = this.channelMembers[ch] as number[];
      members[members.indexOf(from)] = to;
    }
    const p = this.profile[from] as number;
    this.profile[to] = p;
    if (this.profileSample[p] === from) this.profileSample[p] = to;
    const first = this.profileFirst[p];
    if (first !== undefined) {
      const k = first.indexOf(from);
      if (k >= 0) {
        first[k] = to;
        first.sort(byNumber);
      } else if (first.length === PROFILE_EXAMPLES && to < (first[PROFILE_EXAMPLES - 1] as number)) {
        // It moved ahead of the profile's third member in array order.
        first[PROFILE_EXAMPLES - 1] = to;
        first.sort(byNumber);
      }
    }
  }

  private grow(cap: number): void {
    const widen = <T extends Uint8Array | Int32Array | Float64Array | Uint32Array>(a: T, size: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.health = widen(this.health, cap);
    this.cordoned = widen(this.cordoned, cap);
    this.type = widen(this.type, cap);
    this.wamr = widen(this.wamr, cap);
    this.deviceType = widen(this.deviceType, cap);
    this.cpu = widen(this.cpu, cap);
    this.memory = widen(this.memory, cap);
    this.maxTasks = widen(this.maxTasks, cap);
    this.rank = widen(this.rank, cap);
    this.byRank = widen(this.byRank, cap);
    this.channelOf = widen(this.channelOf, cap);
    this.profile = widen(this.profile, cap);
    this.rows = widen(this.rows, cap);
    this.scratch = new Int32Array(cap);
    this.scratch2 = new Int32Array(cap);
    this.capBits = widen(this.capBits, cap * this.capWords);
    for (const col of this.labelColumns.values()) col.ids = widen(col.ids, cap);
    this.cap = cap;
  }

  /** Interns the candidate's capabilities; false when they no longer fit in `capWords` words. */
  private internCapabilities(c: Candidate): boolean {
    for (const cap of c.capabilities) if (!this.capabilityIds.has(cap)) this.capabilityIds.set(cap, this.capabilityIds.size);
    return this.capabilityIds.size <= this.capWords * 32;
  }

  /** Lays the capability bitsets out again with more words, and so every profile (rare: every 32nd capability name). */
  private relayout(): void {
    this.capWords = Math.max(1, Math.ceil(this.capabilityIds.size / 32));
    this.capBits = new Uint32Array(this.cap * this.capWords);
    for (let i = 0; i < this.n; i++) {
      this.leaveChannel(i);
      this.writeColumns(i, this.items[i] as Candidate);
      this.joinChannel(i);
    }
    for (const col of this.labelColumns.values()) for (let i = 0; i < this.n; i++) col.ids[i] = internLabel(col, this.items[i] as Candidate);
    this.buildProfiles();
  }

  /** Writes candidate `c` into the columns at index `i` (profile, channel and labels apart). */
  private writeColumns(i: number, c: Candidate): void {
    this.items[i] = c;
    // An unexpected health string passes the health rule, as `notHealthy` (a lookup that finds no rejection) lets it.
    const h = HEALTH_CODES.indexOf(c.health);
    this.health[i] = h < 0 ? 0 : h;
    this.cordoned[i] = c.cordoned ? 1 : 0;
    this.type[i] = c.type === 'k8s' ? 0 : 1;
    this.wamr[i] = c.dialect === 'wamr' ? 1 : 0;
    let dt = this.deviceTypeIds.get(c.deviceType);
    if (dt === undefined) {
      dt = this.deviceTypeIds.size;
      this.deviceTypeIds.set(c.deviceType, dt);
    }
    this.deviceType[i] = dt;
    const words = this.capWords;
    this.capBits.fill(0, i * words, (i + 1) * words);
    for (const cap of c.capabilities) {
      const b = this.capabilityIds.get(cap) as number;
      const w = i * words + (b >>> 5);
      this.capBits[w] = (this.capBits[w] as number) | (1 << (b & 31));
    }
    this.cpu[i] = c.capacity.cpuMillis ?? Number.NaN;
    this.memory[i] = c.capacity.memoryBytes ?? Number.NaN;
    this.maxTasks[i] = c.maxTasks ?? Number.NaN;
  }

  private writeLabels(i: number): void {
    const c = this.items[i] as Candidate;
    for (const col of this.labelColumns.values()) col.ids[i] = internLabel(col, c);
  }

  // ---- WAMR channel groups ----

  private joinChannel(i: number): void {
    if (this.wamr[i] !== 1) {
      this.channelOf[i] = -1;
      return;
    }
    const key = (this.items[i] as Candidate).channel;
    let ch = this.channelIds.get(key);
    if (ch === undefined) {
      ch = this.channelMembers.length;
      this.channelIds.set(key, ch);
      this.channelMembers.push([]);
    }
    this.channelOf[i] = ch;
    (this.channelMembers[ch] as number[]).push(i);
  }

  private leaveChannel(i: number): void {
    const ch = this.channelOf[i] as number;
    if (ch < 0) return;
    const members = this.channelMembers[ch] as number[];
    const k = members.indexOf(i);
    members[k] = members[members.length - 1] as number;
    members.pop();
    this.channelOf[i] = -1;
  }

  /**
   * The channel rule's question for WAMR device `i` (`otherWamrHeard` over the devices
   * `noteWamrHeard` keeps): is another WAMR device, by id, on its channel heard from within the window?
   * Only the device's channel peers are looked at.
   */
  otherWamrHeard(i: number, now: number, windowMs: number): boolean {
    const ch = this.channelOf[i] as number;
    if (ch < 0) return false;
    const peers = this.channelMembers[ch] as number[];
    // Alone on its channel (the usual case): no other device to hear.
    if (peers.length === 1) return false;
    const id = (this.items[i] as Candidate).id;
    for (let k = 0; k < peers.length; k++) {
      const p = this.items[peers[k] as number] as Candidate;
      if (p.id !== id && p.lastHeardAt !== undefined && now - p.lastHeardAt <= windowMs) return true;
    }
    return false;
  }

  /** The WAMR devices on the channel of candidate `i` (itself included), or none when `i` is not a WAMR device. */
  wamrPeersOf(i: number): Candidate[] {
    const ch = this.channelOf[i] as number;
    if (ch < 0) return [];
    return (this.channelMembers[ch] as number[]).map((k) => this.items[k] as Candidate);
  }

  // ---- profiles ----

  private profileKey(i: number): string | number {
    const head = ((((this.deviceType[i] as number) * 2 + (this.wamr[i] as number)) * 2 + (this.type[i] as number)) * 2 + (this.cordoned[i] as number)) * 8 + (this.health[i] as number);
    if (this.capWords === 1 && head < 2 ** 20) return head * 2 ** 32 + (this.capBits[i] as number);
    return `${head}:${Array.from(this.capBits.subarray(i * this.capWords, (i + 1) * this.capWords)).join(',')}`;
  }

  /** Every candidate's profile from scratch, in array order. */
  private buildProfiles(): void {
    this.membersDirty = true;
    this.profileIds = new Map();
    this.freeProfiles.length = 0;
    for (const a of [this.profileHealth, this.profileCordoned, this.profileType, this.profileDeviceType, this.profileWamr, this.profileSample, this.profileSize, this.profileFirst]) a.length = 0;
    for (let i = 0; i < this.n; i++) this.joinProfile(i);
  }

  private joinProfile(i: number): void {
    this.membersDirty = true;
    const key = this.profileKey(i);
    let p = this.profileIds.get(key);
    if (p === undefined) {
      const reused = this.freeProfiles.pop();
      p = reused ?? this.profileSize.length;
      this.profileIds.set(key, p);
      this.profileHealth[p] = this.health[i] as number;
      this.profileCordoned[p] = this.cordoned[i] as number;
      this.profileType[p] = this.type[i] as number;
      this.profileDeviceType[p] = this.deviceType[i] as number;
      this.profileWamr[p] = this.wamr[i] as number;
      this.profileSample[p] = i;
      this.profileSize[p] = 0;
      this.profileFirst[p] = [];
    }
    this.profile[i] = p;
    this.profileSize[p] = (this.profileSize[p] as number) + 1;
    const first = this.profileFirst[p];
    if (first === undefined) return;
    if (first.length < PROFILE_EXAMPLES) {
      // Fewer than three: they are every member, so `i` belongs among them.
      first.push(i);
      if (first.length > 1 && i < (first[first.length - 2] as number)) first.sort(byNumber);
    } else if (i < (first[PROFILE_EXAMPLES - 1] as number)) {
      first[PROFILE_EXAMPLES - 1] = i;
      first.sort(byNumber);
    }
  }

  /** Takes candidate `i` out of its profile; `key` is the profile's key (of `i`'s columns before they changed). */
  private leaveProfile(i: number, key: string | number): void {
    this.membersDirty = true;
    const p = this.profile[i] as number;
    const size = (this.profileSize[p] as number) - 1;
    this.profileSize[p] = size;
    if (size === 0) {
      this.profileIds.delete(key);
      this.freeProfiles.push(p);
      this.profileFirst[p] = [];
      return;
    }
    if (this.profileSample[p] === i) this.profileSample[p] = -1;
    const first = this.profileFirst[p];
    if (first === undefined) return;
    const k = first.indexOf(i);
    if (k < 0) return;
    if (first.length < PROFILE_EXAMPLES) first.splice(k, 1);
    // Which member comes next in array order is not known here; `firstOf` looks when asked.
    else this.profileFirst[p] = undefined;
  }

  /** Up to `PROFILE_EXAMPLES` member indexes of profile `p` in array order. */
  firstOf(p: number): readonly number[] {
    let first = this.profileFirst[p];
    if (first === undefined) {
      first = [];
      const profile = this.profile;
      for (let i = 0; i < this.n && first.length < PROFILE_EXAMPLES; i++) if (profile[i] === p) first.push(i);
      this.profileFirst[p] = first;
    }
    return first;
  }

  /**
   * Every candidate index grouped by profile, each profile's members in array order:
   * `order[start[p]] … order[start[p + 1] - 1]`. Built by one counting sort when a profile gained or
   * lost a member or an index moved since the last call (not for a heartbeat or a capacity change),
   * so the pass can take a whole profile's verdict once and walk only passing profiles' members,
   * whose branches then go the same way member after member.
   */
  membersByProfile(): { readonly order: Int32Array; readonly start: Int32Array } {
    const profiles = this.profileSize.length;
    if (this.membersDirty || this.memberStart.length !== profiles + 1) {
      if (this.memberOrder.length < this.n) this.memberOrder = new Int32Array(this.cap);
      if (this.memberStart.length !== profiles + 1) this.memberStart = new Int32Array(profiles + 1);
      const start = this.memberStart;
      const sizes = this.profileSize;
      start[0] = 0;
      for (let p = 0; p < profiles; p++) start[p + 1] = (start[p] as number) + (sizes[p] as number);
      // Fill each profile's range in array order, using the range ends as cursors.
      const cursor = this.memberCursor.length >= profiles ? this.memberCursor : (this.memberCursor = new Int32Array(Math.max(16, profiles * 2)));
      cursor.set(start.subarray(0, profiles));
      const profile = this.profile;
      const order = this.memberOrder;
      for (let i = 0; i < this.n; i++) {
        const p = profile[i] as number;
        order[cursor[p] as number] = i;
        cursor[p] = (cursor[p] as number) + 1;
      }
      this.membersDirty = false;
    }
    return { order: this.memberOrder, start: this.memberStart };
  }

  /** A member of profile `p` whose capability bits stand for the profile's. */
  sampleOf(p: number): number {
    let s = this.profileSample[p] as number;
    if (s < 0) {
      s = this.firstOf(p)[0] as number;
      this.profileSample[p] = s;
    }
    return s;
  }

  // ---- id ranking ----

  /** Number of ids `<=` `id` (the first rank whose id is `> id`). */
  ranksUpTo(id: string): number {
    return this.ranksUpTo0(id, this.n);
  }

  /** Ranks the candidate just appended at index `i` (the last): after every id `<=` it, as the stable sort would. */
  private insertRank(i: number): void {
    const id = (this.items[i] as Candidate).id;
    const n = this.n;
    const r = this.ranksUpTo0(id, n - 1);
    const rank = this.rank;
    for (let j = 0; j < n - 1; j++) if ((rank[j] as number) >= r) rank[j] = (rank[j] as number) + 1;
    this.sortedIds.splice(r, 0, id);
    this.byRank.copyWithin(r + 1, r, n - 1);
    this.byRank[r] = i;
    rank[i] = r;
  }

  private removeRank(i: number): void {
    const r = this.rank[i] as number;
    const n = this.n;
    const rank = this.rank;
    for (let j = 0; j < n; j++) if ((rank[j] as number) > r) rank[j] = (rank[j] as number) - 1;
    this.sortedIds.splice(r, 1);
    this.byRank.copyWithin(r, r + 1, n);
  }

  /** The candidate at `i` got another id: ranks it again (as if removed and appended). */
  private reRank(i: number): void {
    // Take it out of the order, then put it back under its new id; ties go after equal ids.
    const n = this.n;
    this.removeRank(i);
    const id = (this.items[i] as Candidate).id;
    const r = this.ranksUpTo0(id, n - 1);
    const rank = this.rank;
    for (let j = 0; j < n; j++) if (j !== i && (rank[j] as number) >= r) rank[j] = (rank[j] as number) + 1;
    this.sortedIds.splice(r, 0, id);
    this.byRank.copyWithin(r + 1, r, n - 1);
    this.byRank[r] = i;
    rank[i] = r;
  }

  /** `ranksUpTo` over the first `m` ranks. */
  private ranksUpTo0(id: string, m: number): number {
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sortedIds[mid] as string) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- labels ----

  /** The column of label `key`: per candidate, the interned value (-1 when the label is absent). */
  labelColumn(key: string): LabelColumn {
    let col = this.labelColumns.get(key);
    if (col === undefined) {
      col = { key, values: new Map<string, number>(), ids: new Int32Array(this.cap) };
      for (let i = 0; i < this.n; i++) col.ids[i] = internLabel(col, this.items[i] as Candidate);
      this.labelColumns.set(key, col);
    }
    return col;
  }

  // ---- ledger rows ----

  /**
   * The ledger's reservations as columns for these candidates: `cpu[slotOf[i]]` is what is reserved
   * on candidate `i`. The candidate-to-row map is kept here, in step with the slots; it is built for
   * a new ledger, and follows the ledger's `forget`s (a forgotten row may be reused) one id at a time
   * when this index knows its slots by id, else it is built again.
   */
  reservationColumns(ledger: CapacityLedger): ReservationColumns {
    const epoch = ledger.epoch;
    if (ledger !== this.rowsLedger || epoch !== this.rowsEpoch) {
      const forgotten = ledger === this.rowsLedger && this.slotById !== undefined ? ledger.forgottenSince(this.rowsEpoch) : undefined;
      if (forgotten !== undefined) {
        const slots = this.slotById as ReadonlyMap<string, number>;
        for (const id of forgotten) {
          const i = slots.get(id);
          if (i !== undefined) this.rows[i] = ledger.rowOf(id);
        }
      } else {
        for (let i = 0; i < this.n; i++) this.rows[i] = ledger.rowOf((this.items[i] as Candidate).id);
      }
      this.rowsLedger = ledger;
      this.rowsEpoch = epoch;
    }
    return ledger.columns(this.rows);
  }

  /** Keeps the ledger row of the candidate at `i` (new there) in step. */
  private rowFor(i: number): void {
    if (this.rowsLedger !== undefined) this.rows[i] = this.rowsLedger.rowOf((this.items[i] as Candidate).id);
  }

  /** @internal for `Fleet`: its slot-by-id map, read to follow the ledger's `forget`s. */
  followIds(slots: ReadonlyMap<string, number>): void {
    this.slotById = slots;
  }
}

/** One label key over the fleet: its distinct values and, per candidate, the value's number (-1: absent). */
export interface LabelColumn {
  readonly values: ReadonlyMap<string, number>;
  readonly ids: Int32Array;
}

interface MutableLabelColumn {
  readonly key: string;
  readonly values: Map<string, number>;
  ids: Int32Array;
}

function internLabel(col: MutableLabelColumn, c: Candidate): number {
  // The same read as `labelMismatch` (`c.labels[k]`); only string values can equal a selector value.
  const v: unknown = c.labels[col.key];
  if (typeof v !== 'string') return -1;
  let id = col.values.get(v);
  if (id === undefined) {
    id = col.values.size;
    col.values.set(v, id);
  }
  return id;
}

const byNumber = (a: number, b: number): number => a - b;

/** Member indexes kept per profile for examples (the explanation shows three per reason). */
export const PROFILE_EXAMPLES = 3;

/** Health values by code; 0 is the schedulable one. */
export const HEALTH_CODES: readonly PropletHealth[] = ['healthy', 'unknown', 'offline', 'failed', 'deregistered'];

function sameIds(a: readonly Candidate[], b: readonly Candidate[], bn: number): boolean {
  if (a.length !== bn) return false;
  for (let i = 0; i < bn; i++) if ((a[i] as Candidate).id !== (b[i] as Candidate).id) return false;
  return true;
}

/**
 * The proplets the scheduler knows, kept for `place` as a live candidate array and its index,
 * changed one proplet at a time: `upsert` replaces a proplet's candidate in its slot (or appends a
 * new one), `remove` moves the last candidate into the freed slot. Neither rebuilds the index, so a
 * heartbeat or a health change costs microseconds, not the milliseconds of indexing 10,000 proplets
 * again at the next decision.
 *
 * Pass the fleet itself (or `candidates`, the same live array) to `place`. The array is the
 * fleet's own: it changes as the fleet does (copy it to keep a snapshot) and must not be edited
 * by anyone else. Its order is the slots' (an append goes last, a removal moves the last
 * candidate into the gap); ids are unique.
 */
export class Fleet {
  private readonly slots = new Map<string, number>();
  private readonly ix: FleetIndex;

  constructor(candidates: Iterable<Candidate> = []) {
    const items: Candidate[] = [];
    for (const c of candidates) {
      const at = this.slots.get(c.id);
      if (at === undefined) {
        this.slots.set(c.id, items.length);
        items.push(c);
      } else items[at] = c;
    }
    this.ix = new FleetIndex(items, undefined, true);
    this.ix.followIds(this.slots);
    indexes.set(items, this.ix);
  }

  /** Adds a proplet, or replaces the candidate of the same id in its slot. */
  upsert(c: Candidate): void {
    const at = this.slots.get(c.id);
    if (at === undefined) {
      this.slots.set(c.id, this.ix.n);
      this.ix.push(c);
    } else if (this.ix.items[at] !== c) this.ix.set(at, c);
  }

  /** Removes a proplet; returns whether it was there. */
  remove(id: string): boolean {
    const at = this.slots.get(id);
    if (at === undefined) return false;
    const last = this.ix.n - 1;
    this.ix.swapRemove(at);
    this.slots.delete(id);
    if (at !== last) this.slots.set((this.ix.items[at] as Candidate).id, at);
    return true;
  }

  get(id: string): Candidate | undefined {
    const at = this.slots.get(id);
    return at === undefined ? undefined : this.ix.items[at];
  }

  has(id: string): boolean {
    return this.slots.has(id);
  }

  /**
   * The WAMR devices sharing the channel of WAMR device `id` (itself included; none for another
   * proplet): what `matchProplet`'s `channelPeers` needs, without a pass over the whole fleet.
   */
  channelPeers(id: string): Candidate[] {
    const at = this.slots.get(id);
    return at === undefined ? [] : this.ix.wamrPeersOf(at);
  }

  get size(): number {
    return this.ix.n;
  }

  /** The live candidate array (see the class comment): the same array for the fleet's life. */
  get candidates(): readonly Candidate[] {
    return this.ix.items;
  }

  /** @internal the fleet's index, for `place`. */
  get index(): FleetIndex {
    return this.ix;
  }
}

const indexes = new WeakMap<readonly Candidate[], FleetIndex>();
// The index built last, whose id ranking the next build may reuse.
let lastBuilt: FleetIndex | undefined;

/**
 * The index of a `Fleet`, or of a candidate array: a fleet's own array (`Fleet.candidates`) gets
 * the fleet's live index; another array's index is cached while the array lives and rebuilt when
 * its elements changed.
 */
export function fleetIndex(candidates: readonly Candidate[] | Fleet): FleetIndex {
  if (candidates instanceof Fleet) return candidates.index;
  let ix = indexes.get(candidates);
  if (ix !== undefined && ix.live) return ix;
  if (ix === undefined || !ix.matches(candidates)) {
    ix = new FleetIndex(candidates, ix ?? lastBuilt);
    indexes.set(candidates, ix);
    lastBuilt = ix;
  }
  return ix;
}
