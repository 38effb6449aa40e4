import type { PropletType } from '@propeller/events';
import { WAMR_MAX_START_BYTES } from '@propeller/mqtt-protocol';
import { classifyTask, DEFAULT_COMPUTE_KEYWORDS, DEFAULT_EDGE_KEYWORDS, DEFAULT_LOAD_BALANCING_RATIO, hybridPreference } from './classify';
import { buildExplanation, fmtCount, MAX_EXAMPLES as MAX_EXAMPLES_IMPORTED, RejectionTally, reasonKeys, type Explanation, type Note, type Reason } from './explanation';
import { CapacityLedger, type LedgerView, type Reservation, type ReservationColumns } from './ledger';
import { formatCpu, formatMemory } from './quantity';
import { fleetIndex, HEALTH_CODES, type Fleet, type FleetIndex } from './fleet';
import { sharesChannelWithWamr as sharesChannelWithWamrImported, taskFacts, WAMR_CHANNEL_WINDOW_MS, type Rejection, type TaskFacts } from './rules';
import type { Candidate, PolicyName, SchedulingTask } from './types';

// Local bindings for what the hot loops read per candidate: the CommonJS that tsx and SWC emit reads
// an imported binding through a getter at every use, which shows in a profile over 10,000 proplets.
const MAX_EXAMPLES = MAX_EXAMPLES_IMPORTED;
const sharesChannelWithWamr = sharesChannelWithWamrImported;

/** Default scheduling policy (`SCHEDULER_TYPE`). */
export const DEFAULT_POLICY: PolicyName = 'hybrid';

/**
 * Policy state carried from one decision to the next. Only round-robin has any: the id it picked
 * last. Rotation goes by id order, so proplets joining or leaving do not reset it.
 */
export interface PolicyState {
  readonly roundRobinCursor: string | null;
}

/** The state before the first decision. */
export function initialPolicyState(): PolicyState {
  return { roundRobinCursor: null };
}

/** Inputs of a decision besides the task, the candidates and the ledger. */
export interface PlaceOptions {
  /** Default `hybrid`. */
  policy?: PolicyName;
  /** The clock (epoch ms), for the WAMR channel rule. */
  now: number;
  /** A uniform number in [0, 1) drawn by the caller; `hybrid` uses it for unclassified tasks. Default 0. */
  random?: number;
  /** Default `ml, ai, compute, batch`. */
  computeKeywords?: readonly string[];
  /** Default `sensor, iot, edge, device`. */
  edgeKeywords?: readonly string[];
  /** Share of unclassified tasks `hybrid` sends to Kubernetes; default 0.5. */
  loadBalancingRatio?: number;
  /** Default 1,023. */
  wamrMaxStartBytes?: number;
  /** Default 30 s. */
  wamrChannelWindowMs?: number;
  /**
   * Proplets left out of this decision (the next attempt after a timeout goes elsewhere): not
   * considered, counted or named, as over a copy of the candidates without them, but without
   * indexing such a copy. One difference: a WAMR device left out still hears its channel, so it
   * still keeps the WAMR devices sharing that channel from being used (the channel rule). A handful
   * of ids; unknown ones are ignored.
   */
  exclude?: ReadonlySet<string>;
}

/** A proplet was chosen. */
export interface Placed {
  readonly propletId: string;
  readonly propletType: PropletType;
  readonly explanation: Explanation;
}

/** No proplet can take the task; `reasons` is the reason set (`sameReasons` compares two). */
export interface Unschedulable {
  readonly reasons: readonly string[];
  readonly explanation: Explanation;
}

/** The decision, and the policy state for the next one. */
export type PlaceResult =
  | { readonly placed: Placed; readonly unschedulable?: undefined; readonly state: PolicyState }
  | { readonly unschedulable: Unschedulable; readonly placed?: undefined; readonly state: PolicyState };

/**
 * Best candidate of one proplet type under the active policy, updated as the single pass goes.
 * Ids are compared through `FleetIndex.rank` (integers in id order) during the pass.
 */
class Best {
  count = 0;
  // round-robin: smallest id after the cursor, and smallest id overall (the wrap-around).
  next: Candidate | undefined;
  nextRank = 0;
  first: Candidate | undefined;
  firstRank = 0;
  // resource-aware: largest free share, then fewest tasks, then smallest id.
  best: Candidate | undefined;
  bestRank = 0;
  bestShare = -Infinity;
  bestTasks = 0;
}

/**
 * Free share left on a proplet once the task is placed: the minimum over what it reports (CPU,
 * memory, task slots). A proplet that reports none of them counts as free, discounted by the tasks
 * it already runs (1 / (1 + tasks)): it is used, and spread over, rather than always or never picked.
 */
export function freeShare(c: Candidate, t: FreeShareRequest, reserved: Reservation | undefined): number {
  let share = Infinity;
  const cpu = c.capacity.cpuMillis;
  if (cpu !== undefined) share = Math.min(share, cpu > 0 ? (cpu - (reserved?.cpuMillis ?? 0) - t.cpuMillis) / cpu : 0);
  const mem = c.capacity.memoryBytes;
  if (mem !== undefined) share = Math.min(share, mem > 0 ? (mem - (reserved?.memoryBytes ?? 0) - t.memoryBytes) / mem : 0);
  if (c.maxTasks !== undefined) share = Math.min(share, c.maxTasks > 0 ? (c.maxTasks - (reserved?.tasks ?? 0) - 1) / c.maxTasks : 0);
  return share === Infinity ? 1 / (1 + (reserved?.tasks ?? 0)) : share;
}

/** The parsed requirements `freeShare` needs. */
export type FreeShareRequest = Pick<TaskFacts, 'cpuMillis' | 'memoryBytes'>;

/**
 * `freeShare` of candidate `i` read from the index's columns (`NaN` = not reported) with what is
 * reserved on it (zeros when nothing is): the same arithmetic, in the same order.
 */
function shareAt(fx: FleetIndex, i: number, t: FreeShareRequest, rCpu: number, rMemory: number, rTasks: number): number {
  let share = Infinity;
  const cpu = fx.cpu[i] as number;
  if (cpu === cpu) share = Math.min(share, cpu > 0 ? (cpu - rCpu - t.cpuMillis) / cpu : 0);
  const mem = fx.memory[i] as number;
  if (mem === mem) share = Math.min(share, mem > 0 ? (mem - rMemory - t.memoryBytes) / mem : 0);
  const max = fx.maxTasks[i] as number;
  if (max === max) share = Math.min(share, max > 0 ? (max - rTasks - 1) / max : 0);
  return share === Infinity ? 1 / (1 + rTasks) : share;
}

/** resource-aware order: larger free share, then fewer tasks, then smaller id (so the result never depends on input order). */
const beats = (share: number, tasks: number, id: string, b: Best): boolean =>
  b.best === undefined || share > b.bestShare || (share === b.bestShare && (tasks < b.bestTasks || (tasks === b.bestTasks && id < b.best.id)));

/** `beats` with the id compared by rank (the pass). */
const beatsAt = (share: number, tasks: number, rank: number, b: Best): boolean =>
  b.best === undefined || share > b.bestShare || (share === b.bestShare && (tasks < b.bestTasks || (tasks === b.bestTasks && rank < b.bestRank)));

const smaller = (a: Candidate | undefined, b: Candidate | undefined): Candidate | undefined =>
  a === undefined ? b : b === undefined ? a : a.id <= b.id ? a : b;

/** Chooses among the given types' bests (one type, or both when there is no preference) under the policy. */
function choose(picks: readonly Best[], policy: PolicyName): { c: Candidate; share?: number } | undefined {
  if (policy === 'roundrobin') {
    const c = picks.reduce<Candidate | undefined>((acc, p) => smaller(acc, p.next), undefined) ?? picks.reduce<Candidate | undefined>((acc, p) => smaller(acc, p.first), undefined);
    return c === undefined ? undefined : { c };
  }
  let winner: Best | undefined;
  for (const p of picks) {
    if (p.best !== undefined && (winner === undefined || beats(p.bestShare, p.bestTasks, p.best.id, winner))) winner = p;
  }
  return winner?.best === undefined ? undefined : { c: winner.best, share: winner.bestShare };
}

const other = (t: PropletType): PropletType => (t === 'k8s' ? 'external' : 'k8s');
const TYPES: readonly PropletType[] = ['k8s', 'external'];

function formatExtra(r: Rejection, extra: number): string {
  if (r.rule === 'cpu') return ` (most free: ${formatCpu(Math.max(0, extra))})`;
  if (r.rule === 'memory') return ` (most free: ${formatMemory(Math.max(0, extra))})`;
  return '';
}

/** Feasible proplets that do not report a resource the task asks for. */
class Unreported {
  count = 0;
  examples: string[] = [];
  add(id: string): void {
    this.count++;
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(id);
  }
}

/**
 * The static rules of one task over the index's profiles: for each profile, the slot of the first
 * of health … capability that rejects it (`pre`, -1 when none), and whether the WAMR start size
 * rejects it (`post`, checked after the labels, which are per candidate). Pin and labels are per
 * candidate: the pin as a rank range (ranks `[pinFrom, pinTo)` hold the pinned id), each label as
 * the wanted value's number in the key's column (-2 when no proplet has the value).
 */
interface StaticCheck {
  readonly pinFrom: number;
  readonly pinTo: number;
  readonly pre: Int32Array;
  readonly post: Uint8Array;
  readonly labelIds: readonly Int32Array[];
  readonly labelWant: Int32Array;
}

function staticCheck(fx: FleetIndex, t: TaskFacts): StaticCheck {
  let pinFrom = 0;
  let pinTo = 0;
  if (t.pin !== undefined) {
    pinTo = fx.ranksUpTo(t.pin);
    pinFrom = pinTo;
    while (pinFrom > 0 && fx.sortedIds[pinFrom - 1] === t.pin) pinFrom--;
  }
  const health = HEALTH_CODES.map((h) => (h === 'healthy' ? undefined : t.rejections.health[h]));
  const typeOk = t.types === undefined ? undefined : TYPES.map((ty) => t.types?.has(ty) === true);
  let deviceOk: Uint8Array | undefined;
  if (t.deviceTypes !== undefined) {
    deviceOk = new Uint8Array(fx.deviceTypeIds.size);
    for (const [name, id] of fx.deviceTypeIds) if (t.deviceTypes.has(name)) deviceOk[id] = 1;
  }
  // A capability no proplet has gets mask 0, which every candidate fails.
  const capWord = t.capabilities.map((cap) => (fx.capabilityIds.get(cap) ?? 0) >>> 5);
  const capMask = t.capabilities.map((cap) => {
    const b = fx.capabilityIds.get(cap);
    return b === undefined ? 0 : (1 << (b & 31)) >>> 0;
  });
  const pre = new Int32Array(fx.profiles);
  const post = new Uint8Array(fx.profiles);
  for (let p = 0; p < fx.profiles; p++) {
    // A freed profile has no member: nothing to judge.
    if (fx.profileSize[p] === 0) continue;
    post[p] = fx.profileWamr[p] === 1 && !t.fitsWamr ? 1 : 0;
    let r: Rejection | undefined = health[fx.profileHealth[p] as number];
    if (r === undefined && fx.profileCordoned[p] === 1) r = t.rejections.cordoned;
    if (r === undefined && typeOk !== undefined && !typeOk[fx.profileType[p] as number]) r = t.rejections.type;
    if (r === undefined && deviceOk !== undefined && deviceOk[fx.profileDeviceType[p] as number] !== 1) r = t.rejections.deviceType;
    if (r === undefined) {
      const base = fx.sampleOf(p) * fx.capWords;
      for (let j = 0; j < capMask.length; j++) {
        if (((fx.capBits[base + (capWord[j] as number)] as number) & (capMask[j] as number)) === 0) {
          r = t.rejections.capability[j];
          break;
        }
      }
    }
    pre[p] = r === undefined ? -1 : r.slot;
    // The start size is the next rule after the labels: with none, it is a verdict on the whole profile too.
    if (r === undefined && post[p] === 1 && t.labels.length === 0) pre[p] = t.rejections.wamrStartSize.slot;
  }
  const labelIds: Int32Array[] = [];
  const labelWant = new Int32Array(t.labels.length);
  t.labels.forEach(([k, v], j) => {
    const col = fx.labelColumn(k);
    labelIds.push(col.ids);
    labelWant[j] = col.values.get(v) ?? -2;
  });
  return { pinFrom, pinTo, pre, post, labelIds, labelWant };
}

/** Every rejection of a task by its slot. */
function rejectionsBySlot(t: TaskFacts): Rejection[] {
  const out = new Array<Rejection>(t.slots);
  const put = (r: Rejection): void => {
    out[r.slot] = r;
  };
  const rs = t.rejections;
  put(rs.pin);
  for (const r of Object.values(rs.health)) put(r);
  for (const r of [rs.cordoned, rs.type, rs.deviceType, rs.maxTasks, rs.cpu, rs.memory, rs.wamrStartSize, rs.wamrChannel]) put(r);
  for (const r of rs.capability) put(r);
  for (const r of rs.label) put(r);
  return out;
}

/**
 * Counts, profile by profile, the candidates whose profile a static rule rejects, each reason's
 * first examples (in array order, as counting them one by one would) kept in `top` (see `keepExample`).
 */
function countRejectedProfiles(fx: FleetIndex, s: StaticCheck, bySlot: readonly Rejection[], tally: RejectionTally, top: Int32Array, ex: Excluded | undefined): void {
  for (let p = 0; p < fx.profiles; p++) {
    const slot = s.pre[p] as number;
    if (slot < 0 || fx.profileSize[p] === 0) continue;
    const left = ex === undefined ? 0 : (ex.perProfile.get(p) ?? 0);
    if (left > 0) {
      // Some members are left out: count the others, and take examples among them.
      if (left === fx.profileSize[p]) continue;
      tally.count(bySlot[slot] as Rejection, undefined, (fx.profileSize[p] as number) - left);
      const { order, start } = fx.membersByProfile();
      for (let k = start[p] as number, kept = 0; k < (start[p + 1] as number) && kept < MAX_EXAMPLES; k++) {
        const i = order[k] as number;
        if ((ex as Excluded).mark[i] === 1) continue;
        if (!keepExample(top, slot, i)) break;
        kept++;
      }
      continue;
    }
    tally.count(bySlot[slot] as Rejection, undefined, fx.profileSize[p] as number);
    // A profile's first members are ascending: once one is not kept, the later ones are not either.
    for (const i of fx.firstOf(p)) if (!keepExample(top, slot, i)) break;
  }
}

/** The candidates `PlaceOptions.exclude` leaves out: marked by index, counted per profile. */
interface Excluded {
  readonly mark: Uint8Array;
  readonly count: number;
  readonly perProfile: ReadonlyMap<number, number>;
}

function excludedOf(fx: FleetIndex, ids: ReadonlySet<string> | undefined): Excluded | undefined {
  if (ids === undefined || ids.size === 0) return undefined;
  const mark = new Uint8Array(fx.n);
  const perProfile = new Map<number, number>();
  let count = 0;
  for (const id of ids) {
    // Every candidate with that id (an array may repeat one): the ranks holding it.
    const to = fx.ranksUpTo(id);
    for (let r = to - 1; r >= 0 && fx.sortedIds[r] === id; r--) {
      const i = fx.byRank[r] as number;
      mark[i] = 1;
      count++;
      const p = fx.profile[i] as number;
      perProfile.set(p, (perProfile.get(p) ?? 0) + 1);
    }
  }
  return count === 0 ? undefined : { mark, count, perProfile };
}

/**
 * Keeps candidate index `i` among the `MAX_EXAMPLES` smallest of its reason `slot` in `top`
 * (`MAX_EXAMPLES` entries per slot, ascending, -1 for none yet); returns whether it was kept.
 * Indexes are offered once each, in any order.
 */
function keepExample(top: Int32Array, slot: number, i: number): boolean {
  const base = slot * MAX_EXAMPLES;
  let k = MAX_EXAMPLES - 1;
  const last = top[base + k] as number;
  if (last >= 0 && last < i) return false;
  while (k > 0) {
    const prev = top[base + k - 1] as number;
    if (prev >= 0 && prev < i) break;
    top[base + k] = prev;
    k--;
  }
  top[base + k] = i;
  return true;
}

/** Records the examples kept in `top`, each reason's in array order. */
function emitExamples(fx: FleetIndex, top: Int32Array, bySlot: readonly Rejection[], tally: RejectionTally): void {
  for (let slot = 0; slot < bySlot.length; slot++) {
    for (let k = 0; k < MAX_EXAMPLES; k++) {
      const i = top[slot * MAX_EXAMPLES + k] as number;
      if (i < 0) break;
      tally.example(bySlot[slot] as Rejection, (fx.items[i] as Candidate).id);
    }
  }
}

/**
 * Places one task: filters every candidate through the hard rules in **one pass** (counting
 * rejections for the explanation and tracking each type's best under the policy as it goes), then
 * applies the preference with its fallback. Pure: the ledger is only read, the clock and the random
 * number come in `options`, the next policy state goes out in the result.
 *
 * The pass reads a column-wise index of `candidates` (`FleetIndex`). Give it a `Fleet` (or its
 * `candidates` array), whose index follows each proplet's change in place; or a plain array, indexed
 * once and kept while the array lives (keep the same array between decisions, and a new one after
 * a change costs a whole new index). Candidates are values and are not to be edited in place.
 *
 * `candidates` must be every known proplet (not only healthy ones): the WAMR channel rule needs to
 * see devices that are heard from but not schedulable. Throws `InvalidError` for unparsable
 * `resourceRequirements`.
 */
export function place(
  task: SchedulingTask,
  candidates: readonly Candidate[] | Fleet,
  ledger: LedgerView,
  state: PolicyState,
  options: PlaceOptions,
): PlaceResult {
  const policy = options.policy ?? DEFAULT_POLICY;
  const now = options.now;
  const windowMs = options.wamrChannelWindowMs ?? WAMR_CHANNEL_WINDOW_MS;
  const t = taskFacts(task, options.wamrMaxStartBytes ?? WAMR_MAX_START_BYTES, windowMs);
  const cursor = state.roundRobinCursor;
  const notes: Note[] = [];

  // Preference, decided before the pass: explicit, or (hybrid only) from the task's keywords or the
  // load-balancing draw. Proplets of the other type are only scored if the preferred has none.
  let preferred: PropletType | undefined = task.preferredPropletType === 'any' ? undefined : task.preferredPropletType;
  if (preferred !== undefined) {
    notes.push({ kind: 'preference', message: `prefers ${preferred} proplets (preferredPropletType)` });
  } else if (policy === 'hybrid') {
    const cls = classifyTask(task, options.computeKeywords ?? DEFAULT_COMPUTE_KEYWORDS, options.edgeKeywords ?? DEFAULT_EDGE_KEYWORDS);
    const ratio = options.loadBalancingRatio ?? DEFAULT_LOAD_BALANCING_RATIO;
    const random = options.random ?? 0;
    preferred = hybridPreference(cls, random, ratio);
    notes.push({
      kind: 'classification',
      message:
        cls.kind === 'unclassified'
          ? `hybrid: no compute or edge keyword; drew ${random.toFixed(3)} ${random < ratio ? '<' : '>='} loadBalancingRatio ${ratio}, so prefers ${preferred}`
          : `hybrid: ${cls.kind} task (token "${cls.token}" in ${cls.source}), so prefers ${preferred}`,
    });
  }

  const fx = fleetIndex(candidates);
  const excluded = excludedOf(fx, options.exclude);
  const considered = fx.n - (excluded?.count ?? 0);
  const pass = new Pass(fx, t, ledger, policy, preferred === undefined ? -1 : preferred === 'k8s' ? 0 : 1, cursor === null ? -1 : fx.ranksUpTo(cursor), now, windowMs, excluded);
  pass.run();
  const { picks, tally, unreportedCpu, unreportedMemory } = pass;

  const feasible = (picks[0] as Best).count + (picks[1] as Best).count;
  const reasons: Reason[] = tally.reasons(formatExtra);
  if (t.pin !== undefined && !pass.pinSeen) {
    reasons.unshift({ key: 'pinUnknown', rule: 'pinUnknown', count: 0, examples: [], message: `pinned proplet ${t.pin} is not known` });
  }
  if (considered === 0) {
    reasons.push({ key: 'noProplets', rule: 'noProplets', count: 0, examples: [], message: 'no proplets are known' });
  }

  let chosen: { c: Candidate; share?: number } | undefined;
  if (preferred === undefined) {
    chosen = choose(picks, policy);
  } else {
    chosen = choose([pass.preferredBest()], policy);
    if (chosen === undefined) {
      chosen = choose([pass.fallbackBest()], policy);
      if (chosen !== undefined) {
        notes.push({
          kind: 'fallback',
          message: `no ${preferred} proplet can take the task (preferred); using ${other(preferred)} proplet ${chosen.c.id} instead`,
        });
      }
    }
  }

  if (chosen === undefined) {
    const explanation = buildExplanation(considered, feasible, reasons, notes);
    return { unschedulable: { reasons: reasonKeys(explanation), explanation }, state };
  }

  const c = chosen.c;
  notes.push({
    kind: 'policy',
    message:
      policy === 'roundrobin'
        ? `roundrobin picked ${c.id} (next after ${cursor ?? 'the start'})`
        : `${policy} picked ${c.id} (largest free share: ${(chosen.share ?? 0).toFixed(3)})`,
  });
  if (unreportedCpu.count > 0) notes.push(unreportedNote('cpu', formatCpu(t.cpuMillis), unreportedCpu, feasible, c));
  if (unreportedMemory.count > 0) notes.push(unreportedNote('memory', formatMemory(t.memoryBytes), unreportedMemory, feasible, c));
  const explanation = buildExplanation(considered, feasible, reasons, notes);
  return {
    placed: { propletId: c.id, propletType: c.type, explanation },
    state: policy === 'roundrobin' ? { roundRobinCursor: c.id } : state,
  };
}

/**
 * One decision's single pass over a `FleetIndex`. A class rather than closures inside `place`, so
 * that its small methods are optimised once and stay optimised: a hot loop inside `place` itself
 * was thrown back to the interpreter at every decision by the rarely taken branches around it.
 */
class Pass {
  readonly tally: RejectionTally;
  readonly picks: readonly Best[] = [new Best(), new Best()];
  readonly unreportedCpu = new Unreported();
  readonly unreportedMemory = new Unreported();
  readonly pinSeen: boolean;
  // The candidates holding the pinned id (not left out), in array order.
  private readonly pinned: Int32Array;
  private readonly s: StaticCheck;
  private readonly cols: ReservationColumns | undefined;
  private readonly needsReservation: boolean;
  // WAMR devices that passed every other rule (indexes, `deferred` of them), judged after the pass;
  // the index's second scratch array.
  private readonly deferredWamr: Int32Array;
  private deferred = 0;
  // Feasible candidates of the other type, scored only if the preferred type has none: the index's
  // scratch array (sized with the fleet, reused by every decision; not an array grown by pushes).
  private readonly fallback: Int32Array;
  private fallbacks = 0;

  constructor(
    private readonly fx: FleetIndex,
    private readonly t: TaskFacts,
    private readonly ledger: LedgerView,
    private readonly policy: PolicyName,
    /** 0 k8s, 1 external, -1 none. */
    private readonly preferredCode: number,
    private readonly cursorRanks: number,
    private readonly now: number,
    private readonly windowMs: number,
    private readonly excluded: Excluded | undefined,
  ) {
    this.tally = new RejectionTally(t.slots);
    this.fallback = fx.scratch;
    this.deferredWamr = fx.scratch2;
    this.s = staticCheck(fx, t);
    this.pinned = t.pin === undefined ? new Int32Array(0) : this.pinnedOf(fx, this.s, excluded);
    this.pinSeen = t.pin !== undefined && this.pinned.length > 0;
    // A `CapacityLedger` is read as columns; any other `LedgerView` with one `get` per proplet.
    this.cols = ledger instanceof CapacityLedger ? fx.reservationColumns(ledger) : undefined;
    // The ledger is read only when something needs the reservation: a resource request, a task
    // limit, or a policy that scores free share.
    this.needsReservation = t.cpuMillis > 0 || t.memoryBytes > 0 || policy !== 'roundrobin';
  }

  /** The candidates holding the pinned id, in array order, but those left out. */
  private pinnedOf(fx: FleetIndex, s: StaticCheck, excluded: Excluded | undefined): Int32Array {
    const all = Int32Array.from(fx.byRank.subarray(s.pinFrom, s.pinTo)).sort();
    return excluded === undefined ? all : all.filter((i) => excluded.mark[i] !== 1);
  }

  run(): void {
    const fx = this.fx;
    const t = this.t;
    const s = this.s;
    if (t.pin === undefined) {
      // Health … capability: counted per profile; only candidates of passing profiles are judged.
      // The examples of the reasons counted per profile and in `fastScan` are the smallest indexes
      // kept in `top`; `scan` (reasons apart from the profiles') gives its own in array order.
      const bySlot = rejectionsBySlot(t);
      const top = new Int32Array(t.slots * MAX_EXAMPLES).fill(-1);
      countRejectedProfiles(fx, s, bySlot, this.tally, top, this.excluded);
      if (this.cols !== undefined) this.fastScan(this.cols, top);
      else this.scan(undefined, undefined);
      emitExamples(fx, top, bySlot, this.tally);
    } else {
      // The pin rule comes first: every candidate but the pinned ones (the same id) is rejected by it.
      const pinned = this.pinned;
      const mark = this.excluded?.mark;
      const others = fx.n - (this.excluded?.count ?? 0) - pinned.length;
      if (others > 0) {
        this.tally.count(t.rejections.pin, undefined, others);
        for (let i = 0, k = 0, named = 0; i < fx.n && named < MAX_EXAMPLES; i++) {
          if (k < pinned.length && pinned[k] === i) k++;
          else if (mark !== undefined && mark[i] === 1) continue;
          else {
            this.tally.example(t.rejections.pin, (fx.items[i] as Candidate).id);
            named++;
          }
        }
      }
      this.scan(pinned, rejectionsBySlot(t));
    }
    // The channel rule needs the other WAMR devices of the channel, judged once the pass is over.
    for (let k = 0; k < this.deferred; k++) {
      const i = this.deferredWamr[k] as number;
      const c = fx.items[i] as Candidate;
      const r = sharesChannelWithWamr(c, t, fx.otherWamrHeard(i, this.now, this.windowMs));
      if (r !== undefined) this.tally.add(r, c.id);
      else {
        this.reserved(i);
        this.accept(i, this.rCpu, this.rMemory, this.rTasks);
      }
    }
  }

  /**
   * The hot loop: every candidate (or only `only`, the pinned ones) through the rules its profile's
   * verdict leaves (labels, WAMR start size, room), feasible ones counted and scored. Columns are
   * read into locals once. A candidate whose profile a static rule rejects is skipped (already
   * counted per profile), or counted here when `bySlot` is given (the pinned few).
   */
  private scan(only: Int32Array | undefined, bySlot: readonly Rejection[] | undefined): void {
    const fx = this.fx;
    const t = this.t;
    const s = this.s;
    const profile = fx.profile;
    const pre = s.pre;
    const post = s.post;
    const labelIds = s.labelIds;
    const labelWant = s.labelWant;
    const labels = labelIds.length;
    const maxTasksCol = fx.maxTasks;
    const cpuCol = fx.cpu;
    const memoryCol = fx.memory;
    const wamr = fx.wamr;
    const cols = this.cols;
    const needs = this.needsReservation;
    const wantCpu = t.cpuMillis;
    const wantMemory = t.memoryBytes;
    const n = only === undefined ? fx.n : only.length;
    const mark = this.excluded?.mark;
    next: for (let k = 0; k < n; k++) {
      const i = only === undefined ? k : (only[k] as number);
      if (mark !== undefined && mark[i] === 1) continue;
      const p = profile[i] as number;
      const slot = pre[p] as number;
      if (slot >= 0) {
        if (bySlot !== undefined) this.reject(bySlot[slot] as Rejection, i);
        continue;
      }
      for (let j = 0; j < labels; j++) {
        if ((labelIds[j] as Int32Array)[i] !== labelWant[j]) {
          this.reject(t.rejections.label[j] as Rejection, i);
          continue next;
        }
      }
      if (post[p] === 1) {
        this.reject(t.rejections.wamrStartSize, i);
        continue;
      }
      // The room rules, in `RULE_ORDER`: task limit, CPU, memory (as `roomRejection`; NaN = not reported).
      const maxTasks = maxTasksCol[i] as number;
      let rCpu = 0;
      let rMemory = 0;
      let rTasks = 0;
      if (needs || maxTasks === maxTasks) {
        if (cols !== undefined) {
          const row = cols.slotOf[i] as number;
          rCpu = cols.cpu[row] as number;
          rMemory = cols.memory[row] as number;
          rTasks = cols.tasks[row] as number;
        } else {
          const r = this.ledger.get((fx.items[i] as Candidate).id);
          rCpu = r?.cpuMillis ?? 0;
          rMemory = r?.memoryBytes ?? 0;
          rTasks = r?.tasks ?? 0;
        }
        if (maxTasks === maxTasks && rTasks >= maxTasks) {
          this.reject(t.rejections.maxTasks, i);
          continue;
        }
        const cpu = cpuCol[i] as number;
        if (wantCpu !== 0 && cpu === cpu && cpu - rCpu < wantCpu) {
          this.reject(t.rejections.cpu, i, cpu - rCpu);
          continue;
        }
        const memory = memoryCol[i] as number;
        if (wantMemory !== 0 && memory === memory && memory - rMemory < wantMemory) {
          this.reject(t.rejections.memory, i, memory - rMemory);
          continue;
        }
      }
      if (wamr[i] === 1) this.deferredWamr[this.deferred++] = i;
      else this.accept(i, rCpu, rMemory, rTasks);
    }
  }

  /**
   * `scan` over every candidate with a `CapacityLedger` (the scheduler's case), written for the
   * optimiser and the branch predictor: profile by profile (`FleetIndex.membersByProfile`), so a
   * rejected profile is skipped whole and, within a passing one, type, WAMR and start-size verdict
   * are the same for every member; columns read once into locals; each type's count and best kept
   * in locals and written to `picks` at the end; the feasible candidate accepted inline.
   *
   * Decides what `scan` and `accept` decide. The order does not matter to the scores (the policies'
   * orders are total, the rank breaking the last tie); examples are the smallest indexes of each
   * reason (`keepExample` into `top`), and of the unreported notes, the smallest among the
   * candidates accepted here, ahead of the WAMR devices accepted after the channel rule — the
   * array order `scan` gives them. WAMR devices are kept in array order for the channel rule.
   */
  private fastScan(cols: ReservationColumns, top: Int32Array): void {
    const fx = this.fx;
    const t = this.t;
    const s = this.s;
    const tally = this.tally;
    const { order, start } = fx.membersByProfile();
    const pre = s.pre;
    const post = s.post;
    const labelIds = s.labelIds;
    const labelWant = s.labelWant;
    const labels = labelIds.length;
    const maxTasksCol = fx.maxTasks;
    const cpuCol = fx.cpu;
    const memoryCol = fx.memory;
    const rankCol = fx.rank;
    const slotOf = cols.slotOf;
    const reservedCpu = cols.cpu;
    const reservedMemory = cols.memory;
    const reservedTasks = cols.tasks;
    const needs = this.needsReservation;
    const wantCpu = t.cpuMillis;
    const wantMemory = t.memoryBytes;
    const rr = this.policy === 'roundrobin';
    const preferred = this.preferredCode;
    const cursor = this.cursorRanks;
    const fallback = this.fallback;
    const deferredWamr = this.deferredWamr;
    const rejections = t.rejections;
    const startSize = rejections.wamrStartSize;
    const maxTasksRule = rejections.maxTasks;
    const cpuRule = rejections.cpu;
    const memoryRule = rejections.memory;
    // The unreported notes' first examples among the candidates accepted here (smallest indexes).
    const unreported = new Int32Array(2 * MAX_EXAMPLES).fill(-1);
    let unreportedCpu = 0;
    let unreportedMemory = 0;
    let fallbacks = this.fallbacks;
    let deferred = this.deferred;
    let count0 = 0;
    let count1 = 0;
    // resource-aware / hybrid: the best of each type (-1: none yet).
    let best0 = -1;
    let share0 = -Infinity;
    let tasks0 = 0;
    let rank0 = 0;
    let best1 = -1;
    let share1 = -Infinity;
    let tasks1 = 0;
    let rank1 = 0;
    // roundrobin: the smallest rank, and the smallest at or after the cursor, of each type.
    let first0 = -1;
    let firstRank0 = 0;
    let next0 = -1;
    let nextRank0 = 0;
    let first1 = -1;
    let firstRank1 = 0;
    let next1 = -1;
    let nextRank1 = 0;
    const mark = this.excluded?.mark;
    const profiles = fx.profiles;
    for (let p = 0; p < profiles; p++) {
      const from = start[p] as number;
      const to = start[p + 1] as number;
      if (from === to || (pre[p] as number) >= 0) continue;
      const type = fx.profileType[p] as number;
      const isWamr = fx.profileWamr[p] === 1;
      const tooLarge = post[p] === 1;
      const scored = preferred < 0 || type === preferred;
      // Members kept for the fallback are scored later (their reservation read again then): here
      // the reservation matters only to a resource request or a task limit.
      const needsHere = needs && (wantCpu > 0 || wantMemory > 0 || (scored && !rr));
      let accepted = 0;
      next: for (let k = from; k < to; k++) {
        const i = order[k] as number;
        if (mark !== undefined && mark[i] === 1) continue;
        for (let j = 0; j < labels; j++) {
          if ((labelIds[j] as Int32Array)[i] !== labelWant[j]) {
            const r = rejections.label[j] as Rejection;
            tally.count(r);
            keepExample(top, r.slot, i);
            continue next;
          }
        }
        if (tooLarge) {
          tally.count(startSize);
          keepExample(top, startSize.slot, i);
          continue;
        }
        const maxTasks = maxTasksCol[i] as number;
        const cpu = cpuCol[i] as number;
        const memory = memoryCol[i] as number;
        let rCpu = 0;
        let rMemory = 0;
        let rTasks = 0;
        if (needsHere || maxTasks === maxTasks) {
          const row = slotOf[i] as number;
          rCpu = reservedCpu[row] as number;
          rMemory = reservedMemory[row] as number;
          rTasks = reservedTasks[row] as number;
          if (maxTasks === maxTasks && rTasks >= maxTasks) {
            tally.count(maxTasksRule);
            keepExample(top, maxTasksRule.slot, i);
            continue;
          }
          if (wantCpu !== 0 && cpu === cpu && cpu - rCpu < wantCpu) {
            tally.count(cpuRule, cpu - rCpu);
            keepExample(top, cpuRule.slot, i);
            continue;
          }
          if (wantMemory !== 0 && memory === memory && memory - rMemory < wantMemory) {
            tally.count(memoryRule, memory - rMemory);
            keepExample(top, memoryRule.slot, i);
            continue;
          }
        }
        if (isWamr) {
          deferredWamr[deferred++] = i;
          continue;
        }
        // Accepted (as `accept` does).
        accepted++;
        if (wantCpu > 0 && cpu !== cpu) {
          unreportedCpu++;
          keepExample(unreported, 0, i);
        }
        if (wantMemory > 0 && memory !== memory) {
          unreportedMemory++;
          keepExample(unreported, 1, i);
        }
        if (!scored) {
          fallback[fallbacks++] = i;
          continue;
        }
        const rank = rankCol[i] as number;
        if (rr) {
          if (type === 0) {
            if (first0 < 0 || rank < firstRank0) {
              first0 = i;
              firstRank0 = rank;
            }
            if (cursor >= 0 && rank >= cursor && (next0 < 0 || rank < nextRank0)) {
              next0 = i;
              nextRank0 = rank;
            }
          } else {
            if (first1 < 0 || rank < firstRank1) {
              first1 = i;
              firstRank1 = rank;
            }
            if (cursor >= 0 && rank >= cursor && (next1 < 0 || rank < nextRank1)) {
              next1 = i;
              nextRank1 = rank;
            }
          }
          continue;
        }
        // `shareAt`, inline.
        let share = Infinity;
        if (cpu === cpu) share = Math.min(share, cpu > 0 ? (cpu - rCpu - wantCpu) / cpu : 0);
        if (memory === memory) share = Math.min(share, memory > 0 ? (memory - rMemory - wantMemory) / memory : 0);
        if (maxTasks === maxTasks) share = Math.min(share, maxTasks > 0 ? (maxTasks - rTasks - 1) / maxTasks : 0);
        if (share === Infinity) share = 1 / (1 + rTasks);
        if (type === 0) {
          if (best0 < 0 || share > share0 || (share === share0 && (rTasks < tasks0 || (rTasks === tasks0 && rank < rank0)))) {
            best0 = i;
            share0 = share;
            tasks0 = rTasks;
            rank0 = rank;
          }
        } else if (best1 < 0 || share > share1 || (share === share1 && (rTasks < tasks1 || (rTasks === tasks1 && rank < rank1)))) {
          best1 = i;
          share1 = share;
          tasks1 = rTasks;
          rank1 = rank;
        }
      }
      if (type === 0) count0 += accepted;
      else count1 += accepted;
    }
    this.fallbacks = fallbacks;
    // WAMR devices go to the channel rule in array order.
    if (deferred > this.deferred) deferredWamr.subarray(this.deferred, deferred).sort();
    this.deferred = deferred;
    const items = fx.items;
    const notes: ReadonlyArray<[Unreported, number, number]> = [
      [this.unreportedCpu, unreportedCpu, 0],
      [this.unreportedMemory, unreportedMemory, 1],
    ];
    for (const [u, count, slot] of notes) {
      for (let k = 0; k < MAX_EXAMPLES; k++) {
        const i = unreported[slot * MAX_EXAMPLES + k] as number;
        if (i >= 0) u.add((items[i] as Candidate).id);
      }
      u.count += count - Math.min(count, MAX_EXAMPLES);
    }
    const [p0, p1] = this.picks as [Best, Best];
    p0.count += count0;
    p1.count += count1;
    if (rr) {
      if (first0 >= 0) this.offerRoundRobin(p0, first0, firstRank0, next0, nextRank0);
      if (first1 >= 0) this.offerRoundRobin(p1, first1, firstRank1, next1, nextRank1);
    } else {
      if (best0 >= 0 && beatsAt(share0, tasks0, rank0, p0)) setBest(p0, items[best0], rank0, share0, tasks0);
      if (best1 >= 0 && beatsAt(share1, tasks1, rank1, p1)) setBest(p1, items[best1], rank1, share1, tasks1);
    }
  }

  private offerRoundRobin(p: Best, first: number, firstRank: number, next: number, nextRank: number): void {
    const items = this.fx.items;
    if (p.first === undefined || firstRank < p.firstRank) {
      p.first = items[first];
      p.firstRank = firstRank;
    }
    if (next >= 0 && (p.next === undefined || nextRank < p.nextRank)) {
      p.next = items[next];
      p.nextRank = nextRank;
    }
  }

  private reject(r: Rejection, i: number, extra?: number): void {
    if (this.tally.count(r, extra)) this.tally.example(r, (this.fx.items[i] as Candidate).id);
  }

  // What is reserved on the candidate `reserved` last read.
  private rCpu = 0;
  private rMemory = 0;
  private rTasks = 0;

  /** Reads what is reserved on candidate `i` into `rCpu`, `rMemory`, `rTasks` (zeros when nothing is). */
  private reserved(i: number): void {
    const cols = this.cols;
    if (cols !== undefined) {
      const row = cols.slotOf[i] as number;
      this.rCpu = cols.cpu[row] as number;
      this.rMemory = cols.memory[row] as number;
      this.rTasks = cols.tasks[row] as number;
    } else {
      const r = this.ledger.get((this.fx.items[i] as Candidate).id);
      this.rCpu = r?.cpuMillis ?? 0;
      this.rMemory = r?.memoryBytes ?? 0;
      this.rTasks = r?.tasks ?? 0;
    }
  }

  /** Counts a feasible candidate and scores it for its type, or keeps it for the fallback. */
  private accept(i: number, rCpu: number, rMemory: number, rTasks: number): void {
    const fx = this.fx;
    const t = this.t;
    if (t.cpuMillis > 0 && fx.cpu[i] !== fx.cpu[i]) this.unreportedCpu.add((fx.items[i] as Candidate).id);
    if (t.memoryBytes > 0 && fx.memory[i] !== fx.memory[i]) this.unreportedMemory.add((fx.items[i] as Candidate).id);
    const type = fx.type[i] as number;
    const p = this.picks[type] as Best;
    p.count++;
    if (this.preferredCode < 0 || type === this.preferredCode) this.consider(p, i, rCpu, rMemory, rTasks);
    else this.fallback[this.fallbacks++] = i;
  }

  /**
   * Scores candidate `i` for its type. "Id after the cursor" is `rank >= cursorRanks`. Without a
   * resource request or task limit the reservation may be unread (zeros): only round-robin skips
   * it, and round-robin does not score.
   */
  private consider(p: Best, i: number, rCpu: number, rMemory: number, rTasks: number): void {
    const fx = this.fx;
    const rank = fx.rank[i] as number;
    if (this.policy === 'roundrobin') {
      if (p.first === undefined || rank < p.firstRank) {
        p.first = fx.items[i];
        p.firstRank = rank;
      }
      if (this.cursorRanks >= 0 && rank >= this.cursorRanks && (p.next === undefined || rank < p.nextRank)) {
        p.next = fx.items[i];
        p.nextRank = rank;
      }
      return;
    }
    const share = shareAt(fx, i, this.t, rCpu, rMemory, rTasks);
    if (beatsAt(share, rTasks, rank, p)) {
      p.best = fx.items[i];
      p.bestRank = rank;
      p.bestShare = share;
      p.bestTasks = rTasks;
    }
  }

  /** The preferred type's best. */
  preferredBest(): Best {
    return this.picks[this.preferredCode] as Best;
  }

  /** The other type's best, scoring the feasible candidates kept aside during the pass. */
  fallbackBest(): Best {
    const p = this.picks[1 - this.preferredCode] as Best;
    for (let k = 0; k < this.fallbacks; k++) {
      const i = this.fallback[k] as number;
      if (this.needsReservation) this.reserved(i);
      else this.rCpu = this.rMemory = this.rTasks = 0;
      this.consider(p, i, this.rCpu, this.rMemory, this.rTasks);
    }
    return p;
  }
}

function setBest(p: Best, c: Candidate | undefined, rank: number, share: number, tasks: number): void {
  p.best = c;
  p.bestRank = rank;
  p.bestShare = share;
  p.bestTasks = tasks;
}

function unreportedNote(resource: 'cpu' | 'memory', amount: string, u: Unreported, feasible: number, chosen: Candidate): Note {
  const notReported = resource === 'cpu' ? chosen.capacity.cpuMillis === undefined : chosen.capacity.memoryBytes === undefined;
  const lead = notReported ? `${chosen.id} does not report ${resource}, so the ${resource} request ${amount} did not constrain it; ` : '';
  return {
    kind: 'unreported',
    message: `${lead}${fmtCount(u.count)} of ${fmtCount(feasible)} feasible proplets do not report ${resource} and are not constrained by it, e.g. ${u.examples.join(', ')}`,
  };
}
