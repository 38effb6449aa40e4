// The placement function as it was before the column-wise pass (commit 30681e4): one object
// walk over the candidates with the named rules. Kept only as the oracle of fast-path.spec.ts, which
// checks that the fast pass returns exactly what this one returns (explanations included).
import type { PropletType } from '@propeller/events';
import { WAMR_MAX_START_BYTES } from '@propeller/mqtt-protocol';
import { classifyTask, DEFAULT_COMPUTE_KEYWORDS, DEFAULT_EDGE_KEYWORDS, DEFAULT_LOAD_BALANCING_RATIO, hybridPreference } from '../classify';
import { buildExplanation, fmtCount, MAX_EXAMPLES, RejectionTally, reasonKeys, type Explanation, type Note, type Reason } from '../explanation';
import { CapacityLedger, type LedgerView, type Reservation } from '../ledger';
import { formatCpu, formatMemory } from '../quantity';
import {
  freeCpu,
  freeMemory,
  noteWamrHeard,
  otherWamrHeard,
  roomRejection,
  sharesChannelWithWamr,
  staticRejection,
  taskFacts,
  WAMR_CHANNEL_WINDOW_MS,
  type Rejection,
  type TaskFacts,
} from '../rules';
import type { Candidate, PolicyName, SchedulingTask } from '../types';

// Local bindings for the functions the hot loop calls once per proplet: the CommonJS that tsx and
// SWC emit reads an imported function through a getter at every call, which shows in a profile
// over 10,000 proplets.
const staticReject = staticRejection;
const roomReject = roomRejection;
const noteWamr = noteWamrHeard;

/** Default scheduling policy (`SCHEDULER_TYPE`). */
const DEFAULT_POLICY: PolicyName = 'hybrid';

/**
 * Policy state carried from one decision to the next. Only round-robin has any: the id it picked
 * last. Rotation goes by id order, so proplets joining or leaving do not reset it.
 */
interface PolicyState {
  readonly roundRobinCursor: string | null;
}


/** Inputs of a decision besides the task, the candidates and the ledger. */
interface PlaceOptions {
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
}

/** A proplet was chosen. */
interface Placed {
  readonly propletId: string;
  readonly propletType: PropletType;
  readonly explanation: Explanation;
}

/** No proplet can take the task; `reasons` is the reason set (`sameReasons` compares two). */
interface Unschedulable {
  readonly reasons: readonly string[];
  readonly explanation: Explanation;
}

/** The decision, and the policy state for the next one. */
type PlaceResult =
  | { readonly placed: Placed; readonly unschedulable?: undefined; readonly state: PolicyState }
  | { readonly unschedulable: Unschedulable; readonly placed?: undefined; readonly state: PolicyState };

/** Best candidate of one proplet type under the active policy, updated as the single pass goes. */
class Best {
  count = 0;
  // round-robin: smallest id after the cursor, and smallest id overall (the wrap-around).
  next: Candidate | undefined;
  first: Candidate | undefined;
  // resource-aware: largest free share, then fewest tasks, then smallest id.
  best: Candidate | undefined;
  bestShare = -Infinity;
  bestTasks = 0;
}

/**
 * Free share left on a proplet once the task is placed: the minimum over what it reports (CPU,
 * memory, task slots). A proplet that reports none of them counts as free, discounted by the tasks
 * it already runs (1 / (1 + tasks)): it is used, and spread over, rather than always or never picked.
 */
function freeShare(c: Candidate, t: FreeShareRequest, reserved: Reservation | undefined): number {
  let share = Infinity;
  const cpu = c.capacity.cpuMillis;
  if (cpu !== undefined) share = Math.min(share, cpu > 0 ? (cpu - (reserved?.cpuMillis ?? 0) - t.cpuMillis) / cpu : 0);
  const mem = c.capacity.memoryBytes;
  if (mem !== undefined) share = Math.min(share, mem > 0 ? (mem - (reserved?.memoryBytes ?? 0) - t.memoryBytes) / mem : 0);
  if (c.maxTasks !== undefined) share = Math.min(share, c.maxTasks > 0 ? (c.maxTasks - (reserved?.tasks ?? 0) - 1) / c.maxTasks : 0);
  return share === Infinity ? 1 / (1 + (reserved?.tasks ?? 0)) : share;
}

/** The parsed requirements `freeShare` needs. */
type FreeShareRequest = Pick<TaskFacts, 'cpuMillis' | 'memoryBytes'>;

/** resource-aware order: larger free share, then fewer tasks, then smaller id (so the result never depends on input order). */
const beats = (share: number, tasks: number, id: string, b: Best): boolean =>
  b.best === undefined || share > b.bestShare || (share === b.bestShare && (tasks < b.bestTasks || (tasks === b.bestTasks && id < b.best.id)));

function consider(p: Best, c: Candidate, reserved: Reservation | undefined, t: TaskFacts, policy: PolicyName, cursor: string | null): void {
  if (policy === 'roundrobin') {
    if (p.first === undefined || c.id < p.first.id) p.first = c;
    if (cursor !== null && c.id > cursor && (p.next === undefined || c.id < p.next.id)) p.next = c;
    return;
  }
  const share = freeShare(c, t, reserved);
  const tasks = reserved?.tasks ?? 0;
  if (beats(share, tasks, c.id, p)) {
    p.best = c;
    p.bestShare = share;
    p.bestTasks = tasks;
  }
}

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
 * Places one task: filters every candidate through the hard rules in **one pass** (counting
 * rejections for the explanation and tracking each type's best under the policy as it goes), then
 * applies the preference with its fallback. Pure: the ledger is only read, the clock and the random
 * number come in `options`, the next policy state goes out in the result.
 *
 * `candidates` must be every known proplet (not only healthy ones): the WAMR channel rule needs to
 * see devices that are heard from but not schedulable. Throws `InvalidError` for unparsable
 * `resourceRequirements`.
 */
export function referencePlace(
  task: SchedulingTask,
  candidates: readonly Candidate[],
  ledger: LedgerView,
  state: PolicyState,
  options: PlaceOptions,
): PlaceResult {
  const policy = options.policy ?? DEFAULT_POLICY;
  const now = options.now;
  const windowMs = options.wamrChannelWindowMs ?? WAMR_CHANNEL_WINDOW_MS;
  const t = taskFacts(task, options.wamrMaxStartBytes ?? WAMR_MAX_START_BYTES, windowMs);
  const cursor = state.roundRobinCursor;
  const tally = new RejectionTally(t.slots);
  const picks: Record<PropletType, Best> = { k8s: new Best(), external: new Best() };
  const unreportedCpu = new Unreported();
  const unreportedMemory = new Unreported();
  const heardOn = new Map<string, string[]>();
  const deferredWamr: Candidate[] = [];
  let pinSeen = false;
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

  const fallbackPool: Candidate[] = [];
  const fallbackReserved: Array<Reservation | undefined> = [];
  const accept = (c: Candidate, reserved: Reservation | undefined): void => {
    if (t.cpuMillis > 0 && c.capacity.cpuMillis === undefined) unreportedCpu.add(c.id);
    if (t.memoryBytes > 0 && c.capacity.memoryBytes === undefined) unreportedMemory.add(c.id);
    picks[c.type].count++;
    if (preferred === undefined || c.type === preferred) {
      consider(picks[c.type], c, reserved, t, policy, cursor);
    } else {
      fallbackPool.push(c);
      fallbackReserved.push(reserved);
    }
  };

  // The ledger is read only when something needs the reservation: a resource request, a task
  // limit, or a policy that scores free share.
  const needsReservation = t.cpuMillis > 0 || t.memoryBytes > 0 || policy !== 'roundrobin';
  const index = ledger instanceof CapacityLedger ? ledger.indexFor(candidates) : undefined;
  const recentWamr: Candidate[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i] as Candidate;
    if (c.id === t.pin) pinSeen = true;
    if (c.dialect === 'wamr' && c.lastHeardAt !== undefined && now - c.lastHeardAt <= windowMs) recentWamr.push(c);
    let r = staticReject(c, t);
    let reserved: Reservation | undefined;
    if (r === undefined) {
      if (needsReservation || c.maxTasks !== undefined) reserved = index === undefined ? ledger.get(c.id) : index.at(i, c.id);
      r = roomReject(c, t, reserved);
    }
    if (r !== undefined) {
      tally.add(r, c.id, r.rule === 'cpu' ? freeCpu(c, reserved) : r.rule === 'memory' ? freeMemory(c, reserved) : undefined);
    } else if (c.dialect === 'wamr') {
      // The channel rule needs every WAMR device of the channel, seen only once the pass is over.
      deferredWamr.push(c);
    } else {
      accept(c, reserved);
    }
  }
  // Channel index only when a WAMR device passed every other rule (most tasks never fit a WAMR start).
  if (deferredWamr.length > 0) for (const c of recentWamr) noteWamr(c, heardOn, now, windowMs);
  for (const c of deferredWamr) {
    const r = sharesChannelWithWamr(c, t, otherWamrHeard(c, heardOn));
    if (r !== undefined) tally.add(r, c.id);
    else accept(c, ledger.get(c.id));
  }

  const feasible = picks.k8s.count + picks.external.count;
  const reasons: Reason[] = tally.reasons(formatExtra);
  if (t.pin !== undefined && !pinSeen) {
    reasons.unshift({ key: 'pinUnknown', rule: 'pinUnknown', count: 0, examples: [], message: `pinned proplet ${t.pin} is not known` });
  }
  if (candidates.length === 0) {
    reasons.push({ key: 'noProplets', rule: 'noProplets', count: 0, examples: [], message: 'no proplets are known' });
  }

  let chosen: { c: Candidate; share?: number } | undefined;
  if (preferred === undefined) {
    chosen = choose([picks.k8s, picks.external], policy);
  } else {
    chosen = choose([picks[preferred]], policy);
    if (chosen === undefined) {
      const fallback = picks[other(preferred)];
      for (let i = 0; i < fallbackPool.length; i++) consider(fallback, fallbackPool[i] as Candidate, fallbackReserved[i], t, policy, cursor);
      chosen = choose([fallback], policy);
      if (chosen !== undefined) {
        notes.push({
          kind: 'fallback',
          message: `no ${preferred} proplet can take the task (preferred); using ${other(preferred)} proplet ${chosen.c.id} instead`,
        });
      }
    }
  }

  if (chosen === undefined) {
    const explanation = buildExplanation(candidates.length, feasible, reasons, notes);
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
  const explanation = buildExplanation(candidates.length, feasible, reasons, notes);
  return {
    placed: { propletId: c.id, propletType: c.type, explanation },
    state: policy === 'roundrobin' ? { roundRobinCursor: c.id } : state,
  };
}

function unreportedNote(resource: 'cpu' | 'memory', amount: string, u: Unreported, feasible: number, chosen: Candidate): Note {
  const notReported = resource === 'cpu' ? chosen.capacity.cpuMillis === undefined : chosen.capacity.memoryBytes === undefined;
  const lead = notReported ? `${chosen.id} does not report ${resource}, so the ${resource} request ${amount} did not constrain it; ` : '';
  return {
    kind: 'unreported',
    message: `${lead}${fmtCount(u.count)} of ${fmtCount(feasible)} feasible proplets do not report ${resource} and are not constrained by it, e.g. ${u.examples.join(', ')}`,
  };
}
