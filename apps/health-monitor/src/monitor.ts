import { natsCheck, type HealthCheck } from '@propeller/service';
import { randomUUID } from 'node:crypto';
import { Kvm, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  GatewayLivenessSchema,
  isNotLeader,
  LEASE_NAMES,
  PropletLivenessSchema,
  decodeKvToken,
  type EventEnvelope,
  type NatsNames,
  type PropletEvent,
  type SiteEvent,
} from '@propeller/events';
import { Lease, sendCommand } from '@propeller/eventstore';
import type { Metrics } from '@propeller/telemetry';
import { breakerWindowStep, sitesToPause, type BreakerConfig, type CountedProplet, type SiteBreaker, type SiteMeasurement } from './judge/breaker';
import { factOf, type PropletLabels } from './judge/facts';
import { believedHealth, forgetVerdicts, initialJudgeState, judge, type JudgeInput, type JudgeState, type Thresholds, type Verdict } from './judge/judge';
import { followEvents, type Follower } from './adapters/follow';

/** A gateway key not refreshed for this long no longer counts as a live broker connection: 30 s. */
export const DEFAULT_GATEWAY_STALE_MS = 30_000;

/** Metric names of the health monitor. */
export const HEALTH_METRICS = {
  status: 'propeller_proplet_health_status',
  transitions: 'propeller_health_transitions_total',
  evacuations: 'propeller_health_evacuation_failures_total',
  breakerTrips: 'propeller_health_breaker_trips_total',
  sitePaused: 'propeller_site_evacuation_paused',
  leader: 'propeller_health_judge_leader',
} as const;

/** Core NATS subject of health alerts (JSON, not stored): `<p>.alerts.health`. */
export const alertSubject = (names: NatsNames): string => `${names.prefix}.alerts.health`;

/** The alert published when a site's breaker trips. */
export interface BreakerTrippedAlert extends SiteMeasurement {
  alert: 'SiteEvacuationPaused';
  at: string;
  fencingToken: number;
}

/** The few logger methods the monitor uses (pino's shape). */
export interface MonitorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What `startHealthMonitor` needs; the NATS resources of `names` must be provisioned already. */
export interface HealthMonitorOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** `healthMonitor.checkInterval` in ms (default 1 min): the judge looks at least this often. */
  checkIntervalMs: number;
  /** `offlineThreshold`, `failureThreshold` in ms; `gatewayStaleMs` defaults to 30 s. */
  thresholds: Omit<Thresholds, 'gatewayStaleMs'> & { gatewayStaleMs?: number };
  breaker: BreakerConfig;
  /** `healthMonitor.autoEvacuateTasks` (default true): a failed verdict leads to evacuation, so the breaker guards it. */
  autoEvacuateTasks: boolean;
  metrics: Metrics;
  logger?: MonitorLogger;
  /** Lease holder name, for operators (default `<hostname>/<pid>`). */
  holder?: string;
  /** Timeout of each command (default 5 s). */
  commandTimeoutMs?: number;
}

/** A running health monitor. */
export interface RunningHealthMonitor {
  /** True while this replica holds the `health-judge` lease and has read every proplet and site event. */
  isJudging(): boolean;
  /** The fencing token while the lease is held, else 0. */
  token(): number;
  /** The judge's current state (read-only). */
  state(): JudgeState;
  /** Resolves once the proplet and site events stored at start have been read. */
  readonly ready: Promise<void>;
  readonly checks: { readonly nats: HealthCheck };
  /** Stops watching and judging and releases the lease, so another replica takes over at once. */
  stop(): Promise<void>;
}

const PROPLET_TYPES = new Set(['PropletRegistered', 'PropletUpdated', 'PropletLabelled', 'PropletHealthChanged', 'PropletDeregistered']);
const SITE_TYPES = new Set(['SiteEvacuationPaused', 'SiteEvacuationResumed']);
const HEALTHS = ['unknown', 'healthy', 'offline', 'failed'] as const;

/**
 * Starts the health monitor in this process (ARCHITECTURE.md "Health"): it learns proplets from their
 * events (ordered consumer), watches the liveness KV, and competes for the `health-judge` lease.
 * Every replica keeps the judge's state; only the lease holder turns verdicts into fenced
 * `proplet.changeHealth` commands, pausing a site (`site.pauseEvacuation`) before the failed verdicts
 * that would evacuate too much of it, and resuming it when the breaker window has passed.
 * It judges on every liveness change, at every threshold deadline and at least every check interval.
 * It does not own `nc`: the caller closes it after `stop()`.
 */
export async function startHealthMonitor(o: HealthMonitorOptions): Promise<RunningHealthMonitor> {
  const t: Thresholds = { ...o.thresholds, gatewayStaleMs: o.thresholds.gatewayStaleMs ?? DEFAULT_GATEWAY_STALE_MS };
  const log = o.logger;
  const timeoutMs = o.commandTimeoutMs ?? 5_000;
  let state = initialJudgeState(Date.now());
  let breakers = new Map<string, SiteBreaker>();
  const labels = new Map<string, PropletLabels>();
  let eventsRead = false;
  let stopped = false;

  // ---- metrics ----
  let judging = false;
  o.metrics.gauge({
    name: HEALTH_METRICS.status,
    help: 'Health of each proplet as recorded by the registry: 1 for its current health (exported by the judging replica only)',
    labelNames: ['proplet', 'type', 'health'],
    collect() {
      this.reset();
      if (!judging) return;
      for (const [proplet, p] of state.proplets) {
        for (const health of HEALTHS) this.set({ proplet, type: p.type, health }, p.recorded === health ? 1 : 0);
      }
    },
  });
  o.metrics.gauge({
    name: HEALTH_METRICS.sitePaused,
    help: 'Whether evacuation of a site is paused by its breaker (1) or allowed (0)',
    labelNames: ['site'],
    collect() {
      this.reset();
      for (const [site, b] of breakers) this.set({ site }, b.paused ? 1 : 0);
    },
  });
  o.metrics.gauge({
    name: HEALTH_METRICS.leader,
    help: 'Whether this replica is the health judge (holds the health-judge lease)',
    collect() {
      this.set(judging ? 1 : 0);
    },
  });
  const transitions = o.metrics.counter({ name: HEALTH_METRICS.transitions, help: 'Health changes recorded on this judge\'s verdicts, by from and to', labelNames: ['from', 'to'] });
  const evacuations = o.metrics.counter({ name: HEALTH_METRICS.evacuations, help: 'Failed verdicts recorded that trigger an evacuation (autoEvacuateTasks on, site not paused)' });
  const trips = o.metrics.counter({ name: HEALTH_METRICS.breakerTrips, help: 'Site breaker trips (site.pauseEvacuation recorded), by site', labelNames: ['site'] });

  // ---- the judging loop: inputs wait in one inbox and are judged in batches, one batch at a time, so
  // judgements never interleave and a burst of heartbeats (or the replay at start) costs a few judgements ----
  type Work = { input: JudgeInput } | { site: SiteEvent };
  let inbox: Work[] = [];
  let draining: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timerAt: number | undefined;
  const lease = await Lease.open(o.nc, o.names, LEASE_NAMES.healthJudge, {
    ...(o.holder === undefined ? {} : { holder: o.holder }),
    onAcquired: (token) => {
      log?.info({ fencingToken: token }, 'health-judge lease acquired');
      push({ kind: 'tick' });
    },
    onLost: (reason) => {
      log?.warn({ reason }, 'health-judge lease lost');
      push({ kind: 'tick' });
    },
  });

  const acting = (): boolean => !stopped && eventsRead && lease.isHeld();

  function push(input: JudgeInput): void {
    enqueue({ input });
  }

  function enqueue(work: Work): void {
    if (stopped) return;
    inbox.push(work);
    kick();
  }

  function kick(): void {
    draining ??= drain().finally(() => {
      draining = undefined;
      // Work that arrived between the last batch and here would otherwise wait for the next input.
      if (inbox.length > 0 && !stopped) kick();
    });
  }

  async function drain(): Promise<void> {
    while (inbox.length > 0) {
      const batch = inbox;
      inbox = [];
      try {
        // Site events first: a judgement sees the breakers as the registry last recorded them.
        for (const w of batch) if ('site' in w) onSiteRecorded(w.site);
        const inputs = batch.flatMap((w) => ('input' in w ? [w.input] : []));
        if (inputs.length > 0) await step(inputs);
      } catch (e) {
        log?.error({ err: e }, 'judgement failed');
      }
    }
  }

  async function step(inputs: JudgeInput[]): Promise<void> {
    const now = Date.now();
    const j = judge(state, inputs, now, t);
    state = j.state;
    const wasJudging = judging;
    judging = acting();
    if (!judging) {
      // A standby keeps the state but decides nothing: forget what the judge would have sent.
      state = forgetVerdicts(state, j.verdicts.map((v) => v.propletId));
      if (wasJudging) state = forgetVerdicts(state, state.proplets.keys());
      schedule(j.nextDeadline, now, j.everyone);
      return;
    }
    let windowDeadline: number | undefined;
    if ([...breakers.values()].some((b) => b.paused)) {
      const windowStep = breakerWindowStep(breakers, counted(), now, o.breaker);
      breakers = windowStep.breakers;
      windowDeadline = windowStep.nextDeadline;
      await Promise.all(windowStep.resumes.map((r) => resume(r.site, r.share, now)));
    }
    await send(j.verdicts, now);
    schedule(j.nextDeadline, now, j.everyone);
    if (windowDeadline !== undefined) schedule(windowDeadline, now, false);
  }

  /**
   * Arms the timer for the next look: after a judgement of everyone, at the earliest deadline or one
   * interval; after a partial one, only earlier than already armed.
   */
  function schedule(deadline: number | undefined, now: number, everyone: boolean): void {
    if (stopped) return;
    // One millisecond past a deadline, so the threshold is reached when the judge looks.
    const wanted = deadline === undefined ? undefined : deadline + 1;
    let at: number;
    if (everyone) at = Math.min(now + o.checkIntervalMs, wanted ?? Infinity);
    else if (wanted !== undefined && (timerAt === undefined || wanted < timerAt)) at = wanted;
    else return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timerAt = undefined;
      push({ kind: 'tick' });
    }, Math.max(0, at - Date.now()));
  }

  const counted = (): CountedProplet[] => [...state.proplets.values()].map((p) => ({ site: p.site, health: believedHealth(p) }));

  const meta = (now: number, fenced: boolean): Record<string, unknown> => ({
    correlationId: randomUUID(),
    issuedAt: new Date(now).toISOString(),
    ...(fenced ? { fencingToken: lease.token() } : {}),
  });

  async function send(verdicts: Verdict[], now: number): Promise<void> {
    if (verdicts.length === 0) return;
    const held = new Set<string>();
    if (o.autoEvacuateTasks) {
      // The breaker comes first: a site whose share is above the threshold is paused before any failed
      // verdict of it is recorded, so the scheduler never starts evacuating it.
      const failedSites = verdicts.filter((v) => v.to === 'failed').map((v) => v.site);
      for (const m of sitesToPause(failedSites, counted(), breakers, o.breaker)) {
        if (!(await pause(m, now))) held.add(m.site);
      }
    }
    await Promise.all(
      verdicts.map(async (v) => {
        if (held.has(v.site) && v.to === 'failed') {
          state = forgetVerdicts(state, [v.propletId]);
          return;
        }
        try {
          const reply = await sendCommand(
            o.nc,
            o.names,
            'proplet',
            'changeHealth',
            { meta: meta(now, true), data: { propletId: v.propletId, to: v.to, reason: v.reason, evidence: v.evidence } },
            { timeoutMs },
          );
          if (reply.sequences.length > 0) {
            transitions.inc({ from: v.from, to: v.to });
            if (v.to === 'failed' && o.autoEvacuateTasks && !breakers.get(v.site)?.paused) evacuations.inc();
          }
          log?.info({ propletId: v.propletId, from: v.from, to: v.to, reason: v.reason, evidence: v.evidence, recorded: reply.sequences.length > 0 }, 'health verdict');
        } catch (e) {
          log?.[isNotLeader(e) ? 'warn' : 'error']({ err: e, propletId: v.propletId, to: v.to }, 'health verdict refused');
          state = forgetVerdicts(state, [v.propletId]);
        }
      }),
    );
  }

  async function pause(m: SiteMeasurement, now: number): Promise<boolean> {
    const token = lease.token();
    try {
      const reply = await sendCommand(o.nc, o.names, 'site', 'pauseEvacuation', { meta: meta(now, true), data: m }, { timeoutMs });
      breakers.set(m.site, { paused: true, belowSince: undefined, resuming: false });
      if (reply.sequences.length > 0) {
        trips.inc({ site: m.site });
        const alert: BreakerTrippedAlert = { alert: 'SiteEvacuationPaused', ...m, at: new Date(now).toISOString(), fencingToken: token };
        o.nc.publish(alertSubject(o.names), JSON.stringify(alert));
        log?.warn(alert, 'site evacuation paused by the breaker');
      }
      return true;
    } catch (e) {
      log?.error({ err: e, site: m.site }, 'site pause refused; its failed verdicts wait');
      return false;
    }
  }

  async function resume(site: string, share: number, now: number): Promise<void> {
    try {
      await sendCommand(o.nc, o.names, 'site', 'resumeEvacuation', { meta: meta(now, false), data: { site, by: 'breakerWindow', share } }, { timeoutMs });
      log?.info({ site, share }, 'site evacuation resumed after the breaker window');
    } catch (e) {
      log?.error({ err: e, site }, 'site resume refused; tried again later');
      const b = breakers.get(site);
      if (b) breakers.set(site, { ...b, resuming: false });
    }
  }

  // ---- inputs ----
  function onPropletEvent(e: EventEnvelope): void {
    const { labels: next, fact } = factOf(labels.get(e.aggregateId), e as unknown as PropletEvent);
    if (next === undefined) labels.delete(e.aggregateId);
    else labels.set(e.aggregateId, next);
    if (fact !== undefined) push({ kind: 'proplet', propletId: e.aggregateId, fact });
  }

  function onSiteEvent(e: EventEnvelope): void {
    // Through the inbox, so a judgement in flight sees the breaker as it was when it measured.
    enqueue({ site: e as unknown as SiteEvent });
  }

  function onSiteRecorded(event: SiteEvent): void {
    breakers.set(event.data.site, { paused: event.type === 'SiteEvacuationPaused', belowSince: undefined, resuming: false });
  }

  const onError = (error: unknown, seq: number): void => log?.error({ err: error, seq }, 'event skipped: cannot be read');
  const followers: Follower[] = [
    await followEvents({ nc: o.nc, names: o.names, aggregate: 'proplet', types: PROPLET_TYPES, onEvent: onPropletEvent, onError }),
    await followEvents({ nc: o.nc, names: o.names, aggregate: 'site', types: SITE_TYPES, onEvent: onSiteEvent, onError }),
  ];
  const ready = Promise.all(followers.map((f) => f.caughtUp)).then(() => {
    eventsRead = true;
    push({ kind: 'tick' });
  });

  const kv = await new Kvm(o.nc).open(o.names.kv.liveness);
  const watch = await kv.watch({ key: '>' });
  const watching = (async () => {
    for await (const entry of watch) {
      const input = livenessInput(entry, (err) => log?.warn({ err, key: entry.key }, 'liveness entry ignored'));
      if (input !== undefined) push(input);
    }
  })();

  lease.start();
  schedule(undefined, Date.now(), true);

  return {
    isJudging: () => judging && acting(),
    token: () => lease.token(),
    state: () => state,
    ready,
    checks: { nats: natsCheck(o.nc) },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      watch.stop();
      await watching.catch(() => undefined);
      await Promise.all(followers.map((f) => f.stop()));
      await draining;
      judging = false;
      await lease.release();
    },
  };
}

/** Turns a liveness KV entry into a judge input; a malformed entry is reported and ignored. */
export function livenessInput(entry: KvEntry, onInvalid: (err: unknown) => void): JudgeInput | undefined {
  const dot = entry.key.indexOf('.');
  const kind = entry.key.slice(0, dot);
  let id: string;
  try {
    id = decodeKvToken(entry.key.slice(dot + 1));
  } catch (e) {
    onInvalid(e);
    return undefined;
  }
  const deleted = entry.operation !== 'PUT';
  try {
    if (kind === 'proplet') {
      if (deleted) return { kind: 'liveness', propletId: id, liveness: undefined };
      const l = PropletLivenessSchema.parse(entry.json());
      return { kind: 'liveness', propletId: id, liveness: { status: l.status, at: Date.parse(l.at), source: l.source } };
    }
    if (kind === 'gateway') {
      if (deleted) return { kind: 'gateway', replica: id, gateway: undefined };
      const g = GatewayLivenessSchema.parse(entry.json());
      return {
        kind: 'gateway',
        replica: id,
        gateway: { connected: g.connected, at: Date.parse(g.at), connectedSince: g.connectedSince === undefined ? undefined : Date.parse(g.connectedSince) },
      };
    }
  } catch (e) {
    onInvalid(e);
  }
  return undefined;
}
