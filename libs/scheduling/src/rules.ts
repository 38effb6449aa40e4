import type { PropletHealth, PropletType } from '@propeller/events';
// The 1,023-byte limit is the protocol's (one definition, shared with the start shaping).
import { WAMR_MAX_START_BYTES } from '@propeller/mqtt-protocol';
import { parseRequirements } from './candidate';
import type { Reservation } from './ledger';
import { formatCpu, formatMemory } from './quantity';
import type { Candidate, SchedulingTask } from './types';

/**
 * The hard rules (ARCHITECTURE.md "Scheduling", step 1), each a small named predicate that returns
 * the `Rejection` it stands for, or `undefined` when the proplet passes (STYLE.md rule 11).
 *
 * Rejections are built once per task in `taskFacts()` and returned by reference, so the filter's
 * single pass over 10,000 proplets allocates nothing per proplet.
 */

/** Rule names, in the order they are checked and explained. */
export const RULE_ORDER = [
  'pin',
  'health',
  'cordoned',
  'type',
  'deviceType',
  'capability',
  'label',
  'wamrStartSize',
  'maxTasks',
  'cpu',
  'memory',
  'wamrChannel',
] as const;

/** One hard rule. */
export type RuleName = (typeof RULE_ORDER)[number];

/** How long a heard-from WAMR device keeps its channel to itself (ms). */
export const WAMR_CHANNEL_WINDOW_MS = 30_000;

/** Why a proplet cannot take a task. `key` identifies the reason in a reason set; it holds no counts. */
export interface Rejection {
  readonly rule: RuleName;
  /** What the rule was about (`sensor`, `zone=eu`, `offline`); `''` when the rule has no detail. */
  readonly detail: string;
  /** `rule` or `rule:detail`: stable across decisions, compared by `sameReasons`. */
  readonly key: string;
  /** Verb phrase for one proplet: `lacks capability sensor`. */
  readonly one: string;
  /** Verb phrase for several: `lack capability sensor`. */
  readonly many: string;
  /** Index of this rejection among its task's rejections (0 … `TaskFacts.slots` - 1), for counting without a map. */
  readonly slot: number;
}

/** A task prepared for the filter: parsed once per decision. */
export interface TaskFacts {
  readonly task: SchedulingTask;
  readonly pin: string | undefined;
  readonly types: ReadonlySet<PropletType> | undefined;
  readonly deviceTypes: ReadonlySet<string> | undefined;
  readonly capabilities: readonly string[];
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly fitsWamr: boolean;
  /** Number of distinct rejections built for this task. */
  readonly slots: number;
  readonly rejections: {
    readonly pin: Rejection;
    readonly health: Readonly<Record<Exclude<PropletHealth, 'healthy'>, Rejection>>;
    readonly cordoned: Rejection;
    readonly type: Rejection;
    readonly deviceType: Rejection;
    readonly capability: readonly Rejection[];
    readonly label: readonly Rejection[];
    readonly maxTasks: Rejection;
    readonly cpu: Rejection;
    readonly memory: Rejection;
    readonly wamrStartSize: Rejection;
    readonly wamrChannel: Rejection;
  };
}

/** Builds rejections numbered in creation order. */
function rejectionFactory(): { make: (rule: RuleName, detail: string, one: string, many: string) => Rejection; count: () => number } {
  let slot = 0;
  return {
    make: (rule, detail, one, many) => ({ rule, detail, key: detail === '' ? rule : `${rule}:${detail}`, one, many, slot: slot++ }),
    count: () => slot,
  };
}

// Keeps one oversized selector value (a 5 KB label) from eating the 4 KB explanation on its own.
const clip = (s: string, max = 120): string => (s.length > max ? `${s.slice(0, max - 3)}...` : s);

const HEALTH_TEXT: Record<Exclude<PropletHealth, 'healthy'>, string> = {
  unknown: 'unknown (no heartbeat yet)',
  offline: 'offline',
  failed: 'failed',
  deregistered: 'deregistered',
};

/**
 * Prepares a task for the filter; throws `InvalidError` for unparsable `resourceRequirements`.
 * Limits default to 1,023 bytes and 30 s; they only change the texts and the WAMR size verdict here.
 */
export function taskFacts(task: SchedulingTask, wamrMaxStartBytes = WAMR_MAX_START_BYTES, wamrChannelWindowMs = WAMR_CHANNEL_WINDOW_MS): TaskFacts {
  const sel = task.propletSelector ?? {};
  const req = parseRequirements(task);
  const capabilities = [...new Set(sel.matchCapabilities ?? [])];
  const labels = Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const pin = sel.propletId === undefined || sel.propletId === '' ? undefined : sel.propletId;
  const types = sel.matchTypes === undefined || sel.matchTypes.length === 0 ? undefined : new Set(sel.matchTypes);
  const deviceTypes = sel.matchDeviceTypes === undefined || sel.matchDeviceTypes.length === 0 ? undefined : new Set(sel.matchDeviceTypes);
  const fitsWamr = task.fitsWamr ?? (task.wamrStartBytes !== undefined && task.wamrStartBytes <= wamrMaxStartBytes);
  const sizeText =
    task.fitsWamr === false
      ? 'this start does not fit'
      : task.wamrStartBytes === undefined
        ? 'the start size is unknown'
        : `this start is ${task.wamrStartBytes} bytes`;
  const { make: rejection, count } = rejectionFactory();
  const health = {} as Record<Exclude<PropletHealth, 'healthy'>, Rejection>;
  for (const h of Object.keys(HEALTH_TEXT) as Array<Exclude<PropletHealth, 'healthy'>>) {
    health[h] = rejection('health', h, `is ${HEALTH_TEXT[h]}`, `are ${HEALTH_TEXT[h]}`);
  }
  const typeText = clip([...(types ?? [])].join(' or '));
  const deviceText = clip([...(deviceTypes ?? [])].join(' or '));
  const windowText = `${wamrChannelWindowMs / 1000} s`;
  const cpuText = formatCpu(req.cpuMillis);
  const memText = formatMemory(req.memoryBytes);
  const rejections: TaskFacts['rejections'] = {
    pin: rejection('pin', clip(pin ?? ''), `is not the pinned proplet ${clip(pin ?? '')}`, `are not the pinned proplet ${clip(pin ?? '')}`),
    health,
    cordoned: rejection('cordoned', '', 'is cordoned', 'are cordoned'),
    type: rejection('type', typeText, `is not of type ${typeText}`, `are not of type ${typeText}`),
    deviceType: rejection('deviceType', deviceText, `is not device type ${deviceText}`, `are not device type ${deviceText}`),
    capability: capabilities.map((c) => rejection('capability', clip(c), `lacks capability ${clip(c)}`, `lack capability ${clip(c)}`)),
    label: labels.map(([k, v]) => {
      const kv = clip(`${k}=${v}`);
      return rejection('label', kv, `does not have label ${kv}`, `do not have label ${kv}`);
    }),
    maxTasks: rejection('maxTasks', '', 'is at its task limit', 'are at their task limit'),
    cpu: rejection('cpu', '', `lacks room for cpu ${cpuText}`, `lack room for cpu ${cpuText}`),
    memory: rejection('memory', '', `lacks room for memory ${memText}`, `lack room for memory ${memText}`),
    wamrStartSize: rejection(
      'wamrStartSize',
      '',
      `is a WAMR device that takes starts of at most ${wamrMaxStartBytes} bytes (${sizeText})`,
      `are WAMR devices that take starts of at most ${wamrMaxStartBytes} bytes (${sizeText})`,
    ),
    wamrChannel: rejection(
      'wamrChannel',
      '',
      `is a WAMR device sharing its channel with another WAMR device heard from in the last ${windowText}`,
      `are WAMR devices sharing their channel with another WAMR device heard from in the last ${windowText}`,
    ),
  };
  return {
    task,
    pin,
    types,
    deviceTypes,
    capabilities,
    labels,
    cpuMillis: req.cpuMillis,
    memoryBytes: req.memoryBytes,
    fitsWamr,
    slots: count(),
    rejections,
  };
}

/** The proplet is not the one the task is pinned to. */
export function notPinned(c: Candidate, t: TaskFacts): Rejection | undefined {
  return t.pin !== undefined && c.id !== t.pin ? t.rejections.pin : undefined;
}

/** Only `healthy` proplets take work (`unknown` until the first heartbeat). */
export function notHealthy(c: Candidate, t: TaskFacts): Rejection | undefined {
  return c.health === 'healthy' ? undefined : t.rejections.health[c.health];
}

/** An operator cordoned the proplet. */
export function isCordoned(c: Candidate, t: TaskFacts): Rejection | undefined {
  return c.cordoned ? t.rejections.cordoned : undefined;
}

/** `matchTypes` excludes the proplet's type. */
export function typeNotMatched(c: Candidate, t: TaskFacts): Rejection | undefined {
  return t.types !== undefined && !t.types.has(c.type) ? t.rejections.type : undefined;
}

/** `matchDeviceTypes` excludes the proplet's device type. */
export function deviceTypeNotMatched(c: Candidate, t: TaskFacts): Rejection | undefined {
  return t.deviceTypes !== undefined && !t.deviceTypes.has(c.deviceType) ? t.rejections.deviceType : undefined;
}

/** The proplet lacks one of `matchCapabilities` (all are required); names the first missing one. */
export function lacksCapability(c: Candidate, t: TaskFacts): Rejection | undefined {
  for (let i = 0; i < t.capabilities.length; i++) {
    if (!c.capabilities.has(t.capabilities[i] as string)) return t.rejections.capability[i];
  }
  return undefined;
}

/** A label in `matchLabels` is missing or different on the proplet; names the first one. */
export function labelMismatch(c: Candidate, t: TaskFacts): Rejection | undefined {
  for (let i = 0; i < t.labels.length; i++) {
    const [k, v] = t.labels[i] as readonly [string, string];
    if (c.labels[k] !== v) return t.rejections.label[i];
  }
  return undefined;
}

/** The proplet already runs `maxTasks` tasks. */
export function atTaskLimit(c: Candidate, t: TaskFacts, reserved: Reservation | undefined): Rejection | undefined {
  return c.maxTasks !== undefined && (reserved?.tasks ?? 0) >= c.maxTasks ? t.rejections.maxTasks : undefined;
}

/** Free CPU after the tasks already placed, or `undefined` when the proplet does not report CPU. */
export function freeCpu(c: Candidate, reserved: Reservation | undefined): number | undefined {
  return c.capacity.cpuMillis === undefined ? undefined : c.capacity.cpuMillis - (reserved?.cpuMillis ?? 0);
}

/** Free memory after the tasks already placed, or `undefined` when the proplet does not report memory. */
export function freeMemory(c: Candidate, reserved: Reservation | undefined): number | undefined {
  return c.capacity.memoryBytes === undefined ? undefined : c.capacity.memoryBytes - (reserved?.memoryBytes ?? 0);
}

/** Not enough CPU left; a proplet that does not report CPU is not constrained by it. */
export function noRoomForCpu(c: Candidate, t: TaskFacts, reserved: Reservation | undefined): Rejection | undefined {
  if (t.cpuMillis === 0) return undefined;
  const free = freeCpu(c, reserved);
  return free !== undefined && free < t.cpuMillis ? t.rejections.cpu : undefined;
}

/** Not enough memory left; a proplet that does not report memory is not constrained by it. */
export function noRoomForMemory(c: Candidate, t: TaskFacts, reserved: Reservation | undefined): Rejection | undefined {
  if (t.memoryBytes === 0) return undefined;
  const free = freeMemory(c, reserved);
  return free !== undefined && free < t.memoryBytes ? t.rejections.memory : undefined;
}

/** A WAMR device takes only a start that fits in 1,023 bytes. */
export function startTooLargeForWamr(c: Candidate, t: TaskFacts): Rejection | undefined {
  return c.dialect === 'wamr' && !t.fitsWamr ? t.rejections.wamrStartSize : undefined;
}

/**
 * A WAMR device runs every start it sees on its channel, so it is used only when no *other* WAMR
 * device on that channel was heard from in the last 30 s. `otherHeard` answers that question.
 */
export function sharesChannelWithWamr(c: Candidate, t: TaskFacts, otherHeard: boolean): Rejection | undefined {
  return c.dialect === 'wamr' && otherHeard ? t.rejections.wamrChannel : undefined;
}

/** The rules that need no reservation, in `RULE_ORDER`; checked first so the ledger is read only for proplets that pass them. */
export function staticRejection(c: Candidate, t: TaskFacts): Rejection | undefined {
  return (
    notPinned(c, t) ??
    notHealthy(c, t) ??
    isCordoned(c, t) ??
    typeNotMatched(c, t) ??
    deviceTypeNotMatched(c, t) ??
    lacksCapability(c, t) ??
    labelMismatch(c, t) ??
    startTooLargeForWamr(c, t)
  );
}

/** The rules about room left after the tasks already placed, in `RULE_ORDER`. */
export function roomRejection(c: Candidate, t: TaskFacts, reserved: Reservation | undefined): Rejection | undefined {
  return atTaskLimit(c, t, reserved) ?? noRoomForCpu(c, t, reserved) ?? noRoomForMemory(c, t, reserved);
}

/**
 * Every rule but the channel rule (which needs the other proplets), in `RULE_ORDER`; the first that
 * rejects wins, so each proplet is counted under exactly one reason.
 */
export function firstRejection(c: Candidate, t: TaskFacts, reserved: Reservation | undefined): Rejection | undefined {
  return staticRejection(c, t) ?? roomRejection(c, t, reserved);
}

/** One proplet's rejection as a sentence: `proplet esp32-7 lacks capability sensor`. */
export function describeRejection(propletId: string, r: Rejection): string {
  return `proplet ${propletId} ${r.one}`;
}

/**
 * Whether WAMR device `c` has another WAMR device on its channel heard from within the window.
 * `heardOn` lists, per channel, up to two WAMR device ids heard recently (two are enough to know
 * whether one *other* than `c` exists).
 */
export function otherWamrHeard(c: Candidate, heardOn: ReadonlyMap<string, readonly string[]>): boolean {
  const ids = heardOn.get(c.channel);
  if (ids === undefined) return false;
  for (const id of ids) if (id !== c.id) return true;
  return false;
}

/** Adds `c` to the per-channel index of recently heard WAMR devices, keeping at most two ids per channel. */
export function noteWamrHeard(c: Candidate, heardOn: Map<string, string[]>, now: number, windowMs = WAMR_CHANNEL_WINDOW_MS): void {
  if (c.dialect !== 'wamr' || c.lastHeardAt === undefined || now - c.lastHeardAt > windowMs) return;
  const ids = heardOn.get(c.channel);
  if (ids === undefined) heardOn.set(c.channel, [c.id]);
  else if (ids.length < 2 && !ids.includes(c.id)) ids.push(c.id);
}
