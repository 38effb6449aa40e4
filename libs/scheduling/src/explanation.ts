import { RULE_ORDER, type Rejection, type RuleName } from './rules';

/**
 * Explanations (ARCHITECTURE.md "Scheduling", step 3): rejections counted per reason with a few
 * examples, built during the filter's single pass, in a stable order, at most 4 KB as JSON.
 */

/** Upper bound, in UTF-8 bytes, of `JSON.stringify(explanation)`. */
export const MAX_EXPLANATION_BYTES = 4096;

/** Examples kept per reason. */
export const MAX_EXAMPLES = 3;

/** One counted reason: `12 proplets lack capability sensor, e.g. esp32-7, rpi-2`. */
export interface Reason {
  readonly key: string;
  readonly rule: RuleName | 'pinUnknown' | 'noProplets';
  readonly count: number;
  readonly examples: readonly string[];
  readonly message: string;
}

/** Something the decision wants an operator to know that is not a rejection (fallback, classification, unreported resources). */
export interface Note {
  readonly kind: 'fallback' | 'preference' | 'classification' | 'unreported' | 'policy' | 'queue';
  readonly message: string;
}

/** Why a task went where it went, or nowhere. */
export interface Explanation {
  /** Proplets looked at. */
  readonly considered: number;
  /** Proplets that passed every hard rule. */
  readonly feasible: number;
  /** Rejections, counted, in `RULE_ORDER` then by key. */
  readonly reasons: readonly Reason[];
  readonly notes: readonly Note[];
  /** Reasons and notes left out to stay under `MAX_EXPLANATION_BYTES`. */
  readonly omitted: number;
}

const RANK: Record<string, number> = Object.fromEntries(RULE_ORDER.map((r, i) => [r, i]));

// Caps one example id; ids may be 200 bytes and three of them per reason add up.
const clipId = (id: string): string => (id.length > 64 ? `${id.slice(0, 61)}...` : id);

/** Formats a count with thousands separators: `10,000`. */
export const fmtCount = (n: number): string =>
  // Counts are safe non-negative integers: group the digits by hand (toLocaleString costs microseconds a call).
  Number.isSafeInteger(n) && n >= 0 ? String(n).replace(/\B(?=(\d{3})+$)/g, ',') : n.toLocaleString('en-US');

/**
 * Counts rejections by reason during one pass. Buckets are arrays indexed by `Rejection.slot`, so
 * counting a proplet is a few array writes, not a map lookup.
 */
export class RejectionTally {
  private readonly seen: Array<Rejection | undefined>;
  private readonly counts: Int32Array;
  // Examples per slot, made on the first one (a task has ~20 slots, a decision uses a few).
  private readonly examples: Array<string[] | undefined>;
  private readonly exampleCounts: Uint8Array;
  private readonly extras: Float64Array;

  /** @param slots number of distinct rejections of the task (`TaskFacts.slots`). */
  constructor(slots: number) {
    this.seen = new Array<Rejection | undefined>(slots).fill(undefined);
    this.counts = new Int32Array(slots);
    this.examples = new Array<string[] | undefined>(slots).fill(undefined);
    this.exampleCounts = new Uint8Array(slots);
    this.extras = new Float64Array(slots).fill(-Infinity);
  }

  /** Counts `propletId` under `r`; `extra` is a number kept as the maximum (e.g. the most free CPU). */
  add(r: Rejection, propletId: string, extra?: number): void {
    const i = r.slot;
    this.seen[i] = r;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.example(r, propletId);
    if (extra !== undefined && extra > (this.extras[i] as number)) this.extras[i] = extra;
  }

  /**
   * Counts one more proplet (or `n`) under `r` without naming it; returns whether `r` still wants an example,
   * so the caller reads the proplet's id only for the first few (`example`). `add` does both.
   */
  count(r: Rejection, extra?: number, n = 1): boolean {
    const i = r.slot;
    this.seen[i] = r;
    this.counts[i] = (this.counts[i] as number) + n;
    if (extra !== undefined && extra > (this.extras[i] as number)) this.extras[i] = extra;
    return (this.exampleCounts[i] as number) < MAX_EXAMPLES;
  }

  /** Records `propletId` as an example of `r` (after `count` said one is wanted). */
  example(r: Rejection, propletId: string): void {
    const i = r.slot;
    const k = this.exampleCounts[i] as number;
    if (k >= MAX_EXAMPLES) return;
    this.exampleCounts[i] = k + 1;
    const ex = this.examples[i];
    if (ex === undefined) this.examples[i] = [clipId(propletId)];
    else ex.push(clipId(propletId));
  }

  /** Total proplets rejected. */
  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** The reasons, in stable order: by rule (`RULE_ORDER`), then by key. */
  reasons(formatExtra?: (r: Rejection, extra: number) => string): Reason[] {
    const used = this.seen.filter((r): r is Rejection => r !== undefined);
    used.sort((a, b) => (RANK[a.rule] ?? 0) - (RANK[b.rule] ?? 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return used.map((r) => {
      const count = this.counts[r.slot] as number;
      const examples = this.examples[r.slot] ?? [];
      const max = this.extras[r.slot] as number;
      const extra = max !== -Infinity && formatExtra !== undefined ? formatExtra(r, max) : '';
      const head = count === 1 ? `1 proplet ${r.one}` : `${fmtCount(count)} proplets ${r.many}`;
      return { key: r.key, rule: r.rule, count, examples, message: `${head}${extra}, e.g. ${examples.join(', ')}` };
    });
  }
}

/**
 * `Buffer.byteLength(JSON.stringify(v))` without building the JSON: strings of printable ASCII
 * without `"` or `\\` (ids, counts, messages — nearly always) are counted by length, anything else by
 * stringifying that string alone. For the plain values of an explanation (strings, numbers, arrays,
 * plain objects); an explanation is measured once per reason and note at every decision.
 */
export function jsonBytes(v: unknown): number {
  if (typeof v === 'string') return PLAIN_JSON.test(v) ? v.length + 2 : Buffer.byteLength(JSON.stringify(v), 'utf8');
  if (typeof v === 'number') return Number.isFinite(v) ? String(v).length : 4;
  if (Array.isArray(v)) {
    let n = 2 + Math.max(0, v.length - 1);
    for (const x of v) n += x === undefined || typeof x === 'function' ? 4 : jsonBytes(x);
    return n;
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    let n = 2;
    let fields = 0;
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === 'function') continue;
      n += jsonBytes(k) + 1 + jsonBytes(x);
      fields++;
    }
    return n + Math.max(0, fields - 1);
  }
  return Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
}

const bytes = jsonBytes;

/** A string JSON writes as itself between quotes, one byte a character: printable ASCII but `"` and `\\`. */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Assembles an explanation under the byte cap: reasons first (they are what an operator acts on),
 * then notes, each kept whole or left out and counted in `omitted`.
 */
export function buildExplanation(considered: number, feasible: number, reasons: readonly Reason[], notes: readonly Note[]): Explanation {
  // Room for the skeleton with a generous `omitted` number.
  let used = bytes({ considered, feasible, reasons: [], notes: [], omitted: 1_000_000 });
  const keptReasons: Reason[] = [];
  const keptNotes: Note[] = [];
  let omitted = 0;
  for (const r of reasons) {
    const size = bytes(r) + 1;
    if (used + size <= MAX_EXPLANATION_BYTES) {
      keptReasons.push(r);
      used += size;
    } else omitted++;
  }
  for (const n of notes) {
    const size = bytes(n) + 1;
    if (used + size <= MAX_EXPLANATION_BYTES) {
      keptNotes.push(n);
      used += size;
    } else omitted++;
  }
  return { considered, feasible, reasons: keptReasons, notes: keptNotes, omitted };
}

/** The explanation as lines of text for logs, events and `kubectl describe`. */
export function explanationText(e: Explanation): string {
  const lines = [`${fmtCount(e.feasible)} of ${fmtCount(e.considered)} proplets can take the task`];
  for (const r of e.reasons) lines.push(r.message);
  for (const n of e.notes) lines.push(n.message);
  if (e.omitted > 0) lines.push(`(${e.omitted} more left out)`);
  return lines.join('\n');
}

/** The reason set of an explanation: its reason keys, sorted (counts and examples do not matter). */
export function reasonKeys(e: Pick<Explanation, 'reasons'>): string[] {
  return e.reasons.map((r) => r.key).sort();
}

/**
 * Whether two reason sets are the same set; the scheduler appends `TaskUnschedulable` only when this
 * is false, so a count going from 12 to 13 offline proplets writes nothing.
 */
export function sameReasons(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  if (sa.size !== sb.size) return false;
  for (const k of sa) if (!sb.has(k)) return false;
  return true;
}
