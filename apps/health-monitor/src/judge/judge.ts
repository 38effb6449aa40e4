import type { HealthEvidence, PropletHealth, PropletType } from '@propeller/events';

/**
 * The health judge as a pure function (ARCHITECTURE.md "Health"): `judge(state, input, now, thresholds)`
 * folds one input into the judge's state and returns the verdicts it leads to. The clock arrives as
 * `now` (epoch ms); nothing here touches NATS. The service feeds it liveness KV entries, proplet
 * events and timer ticks, and turns verdicts into `proplet.changeHealth` commands.
 */

/** Thresholds of the judge, in ms (config `healthMonitor.*`). */
export interface Thresholds {
  /** Silence after which a proplet is `offline` (default 5 min). */
  offlineMs: number;
  /** Silence after which a proplet is `failed` (default 15 min); greater than `offlineMs`. */
  failureMs: number;
  /** A gateway key older than this no longer counts as a live broker connection (default 30 s). */
  gatewayStaleMs: number;
}

/** A proplet's latest liveness, as the KV holds it (`at` in epoch ms). */
export interface Liveness {
  status: 'alive' | 'offline';
  at: number;
  source: 'heartbeat' | 'lastWill' | 'podReadiness';
}

/** A gateway replica's broker connection, as its KV key holds it (`at` in epoch ms). */
export interface GatewayView {
  connected: boolean;
  at: number;
  /** When its current broker connection was established (epoch ms), if it said so. */
  connectedSince?: number | undefined;
}

/** What the judge knows of one proplet. */
export interface JudgedProplet {
  type: PropletType;
  /** Its site (`propeller.io/site`, or `UNLABELLED_SITE`). */
  site: string;
  /** Health as the registry recorded it (from `PropletHealthChanged`). */
  recorded: PropletHealth;
  /** A verdict sent and not yet recorded; it stops the judge repeating itself. */
  pending: PropletHealth | undefined;
  /** When the judge first learnt of the proplet (epoch ms): silence of a judged proplet with no liveness counts from here. */
  knownSince: number;
}

/** The judge's whole state. */
export interface JudgeState {
  proplets: ReadonlyMap<string, JudgedProplet>;
  liveness: ReadonlyMap<string, Liveness>;
  gateways: ReadonlyMap<string, GatewayView>;
  /** Silence is never counted from before this (epoch ms): the end of the last broker outage, or the start. */
  silenceFloor: number;
  /** Whether a gateway reported a live broker connection at the last judgement. */
  inputsHealthy: boolean;
}

/** Facts about a proplet learnt from its events. */
export type PropletFact =
  | { kind: 'registered'; type: PropletType; site: string; health: PropletHealth }
  | { kind: 'site'; site: string }
  | { kind: 'healthRecorded'; health: PropletHealth }
  | { kind: 'deregistered' };

/** One input of the judge. */
export type JudgeInput =
  | { kind: 'liveness'; propletId: string; liveness: Liveness | undefined }
  | { kind: 'gateway'; replica: string; gateway: GatewayView | undefined }
  | { kind: 'proplet'; propletId: string; fact: PropletFact }
  /** The interval timer, or a threshold deadline. */
  | { kind: 'tick' };

/** A change of health the judge asks the registry to record. */
export interface Verdict {
  propletId: string;
  type: PropletType;
  site: string;
  from: PropletHealth;
  to: PropletHealth;
  reason: string;
  evidence: HealthEvidence;
}

/** What one judgement returns. */
export interface Judgement {
  state: JudgeState;
  verdicts: Verdict[];
  /** The earliest time (epoch ms) a judged proplet crosses a threshold without any new input; undefined when none will. */
  nextDeadline: number | undefined;
  /** True when every proplet was judged (so `nextDeadline` is the global one). */
  everyone: boolean;
}

/** The judge's state before any input; silence counts from `now`. */
export function initialJudgeState(now: number): JudgeState {
  return { proplets: new Map(), liveness: new Map(), gateways: new Map(), silenceFloor: now, inputsHealthy: false };
}

/**
 * Forgets pending verdicts (refused or unanswered by the registry, or decided by a replica that does
 * not judge), without judging: the next judgement decides them again.
 */
export function forgetVerdicts(state: JudgeState, propletIds: Iterable<string>): JudgeState {
  let proplets: Map<string, JudgedProplet> | undefined;
  for (const id of propletIds) {
    const p = state.proplets.get(id);
    if (p?.pending === undefined) continue;
    proplets ??= new Map(state.proplets);
    proplets.set(id, { ...p, pending: undefined });
  }
  return proplets === undefined ? state : { ...state, proplets };
}

/** The health the judge currently believes: its pending verdict, else what the registry recorded. */
export const believedHealth = (p: JudgedProplet): PropletHealth => p.pending ?? p.recorded;

/** True when at least one gateway reports a connected broker, refreshed within `gatewayStaleMs`. */
export function brokerConnected(gateways: ReadonlyMap<string, GatewayView>, now: number, t: Thresholds): boolean {
  for (const g of gateways.values()) if (g.connected && now - g.at < t.gatewayStaleMs) return true;
  return false;
}

/**
 * Folds one input, or a batch of them in order, into the state and judges at `now`. A timer tick, a
 * gateway change, or a change of the silence floor judges every proplet; otherwise only the proplets
 * the inputs named are judged (a heartbeat costs one assessment, not one per proplet), and
 * `nextDeadline` covers those only (`everyone` says which).
 */
export function judge(state: JudgeState, input: JudgeInput | readonly JudgeInput[], now: number, t: Thresholds): Judgement {
  const inputs: readonly JudgeInput[] = Array.isArray(input) ? input : [input as JudgeInput];
  const { state: next, touched, everyone: forAll } = apply(state, inputs, now);
  const connected = brokerConnected(next.gateways, now, t);
  if (!connected) {
    // A broker (or gateway) outage silences everyone at once: judge nobody, and remember that silence
    // may only be counted from when the inputs come back.
    return { state: { ...next, inputsHealthy: false }, verdicts: [], nextDeadline: gatewayDeadline(next.gateways, now, t), everyone: true };
  }
  const silenceFloor = floorOf(next, now, t);
  const everyone = forAll || !next.inputsHealthy || silenceFloor !== next.silenceFloor;
  let proplets: Map<string, JudgedProplet> | undefined;
  const verdicts: Verdict[] = [];
  let nextDeadline = everyone ? gatewayDeadline(next.gateways, now, t) : undefined;
  const ids: Iterable<string> = everyone ? next.proplets.keys() : touched;
  for (const id of ids) {
    const p = next.proplets.get(id);
    if (p === undefined) continue;
    const outcome = assess(p, next.liveness.get(id), silenceFloor, now, t);
    if (outcome.deadline !== undefined) nextDeadline = Math.min(nextDeadline ?? Infinity, outcome.deadline);
    const from = believedHealth(p);
    if (outcome.verdict === undefined || outcome.verdict.to === from) continue;
    verdicts.push({ propletId: id, type: p.type, site: p.site, from, ...outcome.verdict });
    proplets ??= new Map(next.proplets);
    proplets.set(id, { ...p, pending: outcome.verdict.to });
  }
  return { state: { ...next, proplets: proplets ?? next.proplets, silenceFloor, inputsHealthy: true }, verdicts, nextDeadline, everyone };
}

// Folds the inputs into copies of the maps they touch (each copied once per batch), and says which
// proplets they named and whether everyone must be judged again.
function apply(state: JudgeState, inputs: readonly JudgeInput[], now: number): { state: JudgeState; touched: Set<string>; everyone: boolean } {
  let liveness: Map<string, Liveness> | undefined;
  let gateways: Map<string, GatewayView> | undefined;
  let proplets: Map<string, JudgedProplet> | undefined;
  const touched = new Set<string>();
  let everyone = false;
  for (const input of inputs) {
    switch (input.kind) {
      case 'liveness':
        liveness ??= new Map(state.liveness);
        if (input.liveness === undefined) liveness.delete(input.propletId);
        else liveness.set(input.propletId, input.liveness);
        touched.add(input.propletId);
        break;
      case 'gateway':
        gateways ??= new Map(state.gateways);
        if (input.gateway === undefined) gateways.delete(input.replica);
        else gateways.set(input.replica, input.gateway);
        everyone = true;
        break;
      case 'proplet':
        proplets ??= new Map(state.proplets);
        applyFact(proplets, input.propletId, input.fact, now);
        touched.add(input.propletId);
        break;
      case 'tick':
        everyone = true;
        break;
      default: {
        const never: never = input;
        return never;
      }
    }
  }
  return {
    state: { ...state, liveness: liveness ?? state.liveness, gateways: gateways ?? state.gateways, proplets: proplets ?? state.proplets },
    touched,
    everyone,
  };
}

function applyFact(out: Map<string, JudgedProplet>, id: string, fact: PropletFact, now: number): void {
  const p = out.get(id);
  switch (fact.kind) {
    case 'registered':
      out.set(id, { type: fact.type, site: fact.site, recorded: fact.health, pending: undefined, knownSince: p?.knownSince ?? now });
      return;
    case 'site':
      if (p) out.set(id, { ...p, site: fact.site });
      return;
    case 'healthRecorded':
      // The registry's word replaces any pending verdict: it is what the next judgement starts from.
      if (p) out.set(id, { ...p, recorded: fact.health, pending: undefined });
      return;
    case 'deregistered':
      out.delete(id);
      return;
    default: {
      const never: never = fact;
      return never;
    }
  }
}

/**
 * From when silence may be counted: the inputs have been healthy since the oldest live gateway
 * connection (when every live gateway names when it connected), else since the judge saw them come
 * back (or since the judge started).
 */
function floorOf(s: JudgeState, now: number, t: Thresholds): number {
  let oldest: number | undefined;
  for (const g of s.gateways.values()) {
    if (!g.connected || now - g.at >= t.gatewayStaleMs) continue;
    if (g.connectedSince === undefined) return s.inputsHealthy ? s.silenceFloor : Math.max(s.silenceFloor, now);
    oldest = Math.min(oldest ?? Infinity, g.connectedSince);
  }
  return oldest ?? now;
}

// The gateway keys themselves age: the earliest time the last fresh one goes stale is a deadline too.
function gatewayDeadline(gateways: ReadonlyMap<string, GatewayView>, now: number, t: Thresholds): number | undefined {
  let latest: number | undefined;
  for (const g of gateways.values()) {
    const staleAt = g.at + t.gatewayStaleMs;
    if (g.connected && staleAt > now) latest = Math.max(latest ?? 0, staleAt);
  }
  return latest;
}

interface Assessment {
  verdict: Pick<Verdict, 'to' | 'reason' | 'evidence'> | undefined;
  deadline: number | undefined;
}

/**
 * One proplet's health from its liveness. A fresh `alive` is `healthy`; an `offline` liveness (a
 * last-will, a pod that is not ready) is `offline` at once; silence is `offline` past `offlineMs` and
 * `failed` past `failureMs`, counted from the last sign of life but never from before `silenceFloor`.
 * Silence only ever moves a proplet down (healthy → offline → failed), and a proplet never heard of
 * stays `unknown`.
 */
function assess(p: JudgedProplet, l: Liveness | undefined, floor: number, now: number, t: Thresholds): Assessment {
  const current = believedHealth(p);
  if (l === undefined && current === 'unknown') return { verdict: undefined, deadline: undefined };
  const lastSeen = l?.at ?? p.knownSince;
  const silentSince = Math.max(lastSeen, floor);
  const silence = now - silentSince;
  const evidenceOf = (source: HealthEvidence['source']): HealthEvidence => ({ lastSeenAt: new Date(lastSeen).toISOString(), ageMs: Math.max(0, Math.round(now - lastSeen)), source });

  if (l?.status === 'alive' && now - l.at < t.offlineMs) {
    return {
      verdict: { to: 'healthy', reason: l.source === 'podReadiness' ? 'pod is ready' : 'heartbeat received', evidence: evidenceOf(l.source) },
      deadline: l.at + t.offlineMs,
    };
  }
  if (silence >= t.failureMs) {
    return { verdict: { to: 'failed', reason: `silent for ${Math.round(silence)} ms (failure threshold ${t.failureMs} ms)`, evidence: evidenceOf('silence') }, deadline: undefined };
  }
  const failedAt = silentSince + t.failureMs;
  if (l?.status === 'offline') {
    if (current === 'failed') return { verdict: undefined, deadline: failedAt };
    const reason = l.source === 'lastWill' ? 'last-will received' : l.source === 'podReadiness' ? 'pod is not ready' : 'proplet reported offline';
    return { verdict: { to: 'offline', reason, evidence: evidenceOf(l.source) }, deadline: failedAt };
  }
  if (silence >= t.offlineMs) {
    if (current === 'failed') return { verdict: undefined, deadline: failedAt };
    return { verdict: { to: 'offline', reason: `silent for ${Math.round(silence)} ms (offline threshold ${t.offlineMs} ms)`, evidence: evidenceOf('silence') }, deadline: failedAt };
  }
  // Within the grace after an outage (or before the first threshold): no change yet.
  return { verdict: undefined, deadline: silentSince + t.offlineMs };
}
