/* eslint-disable @nx/enforce-module-boundaries -- a benchmark runs the real services (registry, gateway, monitor) in-process */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDuration } from '@propeller/config';
import { SITE_LABEL, parseStoredEvent, type PropletHealthChangedData, type StoredEnvelope, type StoredEventEnvelope } from '@propeller/events';
import { provision, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { startHealthMonitor } from '@propeller/health-monitor';
import { Objm } from '@nats-io/obj';
import { cleanupInbox } from '@propeller/mqtt-gateway/testing';
import { buildAlive, buildLastWill, buildTaskStarted, parseStart, topicsFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
import { startRegistry } from '@propeller/registry';
import { bundleService, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
import { createMetrics } from '@propeller/telemetry';
import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import type { BenchContext, Scenario } from '../harness';
import { percentiles } from '../stats';
import { evacuationSamples, type StartArrival } from './failover-evacuation';

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const ROOT = resolve(__dirname, '../../../..');
// The example module exporting add (PROTOCOL.md "Examples"): stored once by digest, inline in every start.
const ADD_WASM = Buffer.from('AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', 'base64');

/** Runs `jobs` with at most `concurrency` in flight. */
async function pool(jobs: Array<() => Promise<unknown>>, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
      while (next < jobs.length) await (jobs[next++] as () => Promise<unknown>)();
    }),
  );
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} expects a non-negative integer, got ${args[i + 1]}`);
  return v;
}

function durationFlag(args: string[], name: string, fallback: string): number {
  const i = args.indexOf(`--${name}`);
  const raw = i >= 0 ? String(args[i + 1]) : fallback;
  const ms = parseDuration(raw);
  if (ms === undefined || ms <= 0) throw new Error(`--${name} expects a duration such as 500ms or 2s, got ${raw}`);
  return ms;
}

/** One simulated proplet: a real MQTT client with its last-will, beating on a timer. */
interface SimProplet {
  id: string;
  site: string;
  client: MqttClient;
  timer: NodeJS.Timeout | undefined;
  lastBeatAt: number;
  killedAt?: number;
  how?: 'will' | 'silence';
}

/** p50/p99 of the samples that were measured (a missing transition is NaN and counted apart, never sorted in). */
const p5099 = (samples: number[]): { p50: number; p99: number } | null => {
  const xs = samples.filter(Number.isFinite);
  return xs.length === 0 ? null : (({ p50, p99 }) => ({ p50: Math.round(p50), p99: Math.round(p99) }))(percentiles(xs, [50, 99]));
};
const missing = (samples: number[]): number => samples.filter((x) => !Number.isFinite(x)).length;

/** The gateway process's warnings and errors, by message, so a start that never came has its reason in the results. */
function logSummary(lines: ReadonlyArray<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines) if (typeof l['level'] === 'number' && l['level'] >= 40) out[String(l['msg'])] = (out[String(l['msg'])] ?? 0) + 1;
  return out;
}

/**
 * `npm run bench -- failover [--proplets 40] [--sites 4] [--kill 8] [--tasks 250] [--breaker] [--offline 2s] [--failure 4s]
 * [--interval 1s] [--heartbeat 500ms] [--lease 1s]`: the registry, the mqtt-gateway and the health monitor run in this
 * process against the real NATS, Postgres and Mosquitto; N simulated proplets are real MQTT clients with
 * their last-will, beating through the gateway into the liveness KV. K of them are killed by destroying
 * their sockets without DISCONNECT (the broker sends the will) and K others by silence, at most half of
 * any site so the breaker stays closed; `--breaker` kills 6 of the first site's proplets instead, to show it
 * opening. `--tasks` long-running tasks are placed by the scheduler (its own process) and dispatched by the
 * gateway (its own process, with dispatch) to the simulated proplets, which answer `task_started` and never a
 * result; those on failed proplets are evacuated. Prints and saves the offline/failed overshoot over the
 * thresholds, will→offline, and failed → the next attempt's start reached a surviving proplet's MQTT client
 * (and, to compare, failed → placed again), p50/p99.
 */
export const scenario: Scenario = {
  name: 'failover',
  description: 'health monitor: offline/failed overshoot, last-will → offline, evacuation (args: --proplets --sites --kill --tasks --breaker --offline --failure --interval --heartbeat --lease)',
  async run(ctx: BenchContext) {
    const n = flag(ctx.args, 'proplets', 40);
    const sites = Math.max(1, flag(ctx.args, 'sites', 4));
    const kill = flag(ctx.args, 'kill', 8);
    const taskCount = flag(ctx.args, 'tasks', 250);
    const breakerRun = ctx.args.includes('--breaker');
    const offlineMs = durationFlag(ctx.args, 'offline', '2s');
    const failureMs = durationFlag(ctx.args, 'failure', '4s');
    const intervalMs = durationFlag(ctx.args, 'interval', '1s');
    const heartbeatMs = durationFlag(ctx.args, 'heartbeat', '500ms');
    // The singletons' lease TTL (health judge, scheduler placement loop): about one check interval, so a
    // takeover would fit in one; every process of the run provisions with the same value.
    const leaseMs = durationFlag(ctx.args, 'lease', `${Math.max(1_000, Math.min(intervalMs, 2_000))}ms`);
    if (failureMs <= offlineMs) throw new Error('--failure must exceed --offline');

    const nc = await connectTest('bench-failover');
    const names = testNames();
    const domainId = `bf${randomBytes(4).toString('hex')}`;
    const channel: ChannelRef = { domainId, channelId: 'control', layout: 'messages' };
    await provision(nc, names, { leaseTtlMs: leaseMs });
    const t = testDb<ReadModelTables>({ poolMax: 2 });
    const registry = await startRegistry({ nc, names, db: t.db, registry: new Registry() });
    const dir = mkdtempSync(join(tmpdir(), 'propeller-bench-failover-'));
    // The mqtt-gateway runs as its own process (its bundle, main.ts), as in production: device messages in,
    // liveness KV writes, and dispatch (starts to the devices, task_started relayed to the scheduler).
    const gateway: SpawnedService = spawnNode(bundleService(resolve(ROOT, 'apps/mqtt-gateway/src/main.ts'), join(dir, 'mqtt-gateway.cjs')), {
      cwd: dir,
      env: {
        METRICS_PORT: '0',
        PROPELLER_NATS_PREFIX: names.prefix,
        NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
        MQTT_BROKER: BROKER,
        PROPELLER_DOMAIN_ID: domainId,
        GATEWAY_REPLICA: `r${randomBytes(3).toString('hex')}`,
        GATEWAY_SHARE_GROUP: `g-${domainId}`,
        // Long enough for the run, short enough not to pile sessions up on the shared broker.
        GATEWAY_SESSION_EXPIRY: '2m',
        GATEWAY_LIVENESS_REFRESH: '1s',
        // The gateway provisions the prefix too, and provision converges drifted limits: with its default lease
        // TTL (10 s) it rewrote the leases bucket under the judge, which then lost its lease every TTL (seen:
        // verdicts refused as NotLeader, will → offline over 1 s).
        PROPELLER_NATS_LEASE_TTL: `${leaseMs}ms`,
      },
    });
    // The scheduler runs as its own process (its bundle), as in production; it evacuates failed proplets' tasks.
    const tasksDb = testDb({ poolMax: 1 });
    const scheduler: SpawnedService = spawnNode(bundleService(resolve(ROOT, 'apps/scheduler/src/main.ts'), join(dir, 'scheduler.cjs')), {
      cwd: dir,
      env: {
        METRICS_PORT: '0',
        PROPELLER_NATS_PREFIX: names.prefix,
        PROPELLER_NATS_LEASE_TTL: `${leaseMs}ms`,
        DATABASE_URL: TEST_DATABASE_URL,
        PROPELLER_DATABASE_SCHEMA: tasksDb.schema,
        DATABASE_POOL_MAX: '2',
      },
    });
    const monitor = await startHealthMonitor({
      nc,
      names,
      checkIntervalMs: intervalMs,
      thresholds: { offlineMs, failureMs },
      breaker: { share: 0.55, windowMs: 60_000 },
      autoEvacuateTasks: true,
      metrics: createMetrics({ defaultMetrics: false }),
    });

    // Every event as it is appended: health changes and site pauses, with the judge's clock.
    const health = new Map<string, Array<{ to: string; at: number }>>();
    const paused: StoredEventEnvelope[] = [];
    const tap = nc.subscribe(names.streamSubjects, {
      callback: (err, msg) => {
        if (err) return;
        const e = parseStoredEvent({ ...msg.json<StoredEnvelope>(), seq: 0 });
        if (e.type === 'PropletHealthChanged') {
          const d = e.data as PropletHealthChangedData;
          health.set(e.aggregateId, [...(health.get(e.aggregateId) ?? []), { to: d.to, at: Date.parse(d.changedAt) }]);
        } else if (e.type === 'SiteEvacuationPaused') paused.push(e);
      },
    });
    const reached = (id: string, to: string): number | undefined => health.get(id)?.find((h) => h.to === to)?.at;
    // Per task: where and when each attempt was scheduled (receipt time), its wire id, and whether it runs.
    const placements = new Map<string, Map<number, { propletId: string; at: number; wireId: string }>>();
    const running = new Set<string>();
    const taskTap = nc.subscribe(names.eventFilter('task'), {
      callback: (err, msg) => {
        if (err) return;
        const e = parseStoredEvent({ ...msg.json<StoredEnvelope>(), seq: 0 });
        if (e.type === 'TaskScheduled') {
          const d = e.data as { propletId: string; attempt: number; wireId: string };
          const m = placements.get(e.aggregateId) ?? new Map<number, { propletId: string; at: number; wireId: string }>();
          m.set(d.attempt, { propletId: d.propletId, at: Date.now(), wireId: d.wireId });
          placements.set(e.aggregateId, m);
        } else if (e.type === 'TaskRunning') running.add(e.aggregateId);
      },
    });

    // Per wire id: the first arrival of its start at a simulated proplet's MQTT client (the device side of dispatch).
    const starts = new Map<string, StartArrival>();
    let invalidStarts = 0;
    const sims: SimProplet[] = [];
    try {
      await waitUntilServing(gateway, 30_000);
      await monitor.ready;
      await waitFor(() => monitor.isJudging(), 'the monitor to hold the health-judge lease', 15_000);
      ctx.log(`liveness input: ${n} simulated proplets as real MQTT clients through the mqtt-gateway (heartbeat ${heartbeatMs} ms)`);
      ctx.log(`thresholds: offline ${offlineMs} ms, failed ${failureMs} ms, check interval ${intervalMs} ms`);

      for (let i = 0; i < n; i++) {
        const id = `sim-${i}`;
        const site = `site-${i % sites}`;
        await sendCommand(nc, names, 'proplet', 'register', {
          meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() },
          data: {
            propletId: id,
            type: 'external',
            deviceType: 'sim',
            capabilities: ['wasm'],
            labels: { [SITE_LABEL]: site },
            dialect: 'wasmtime',
            // Like our proplet: its own start/stop topics, and task_started when a start arrives.
            channel: { ...channel, perPropletTopics: true },
          },
        });
        const will = buildLastWill(channel, { propletId: id });
        const client = await mqtt.connectAsync(BROKER, {
          clientId: `${domainId}-${id}`,
          reconnectPeriod: 0,
          will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: false },
        });
        // A start is timed on arrival, before parsing; the proplet answers task_started (as ours does once its
        // sandbox runs) and never a result, so the task stays in flight until its proplet dies.
        client.on('message', (_topic, payload) => {
          const at = Date.now();
          const start = parseStart(payload);
          if (!start.ok) {
            invalidStarts += 1;
            return;
          }
          const wireId = start.value.id;
          if (starts.has(wireId)) return; // a redelivery: the proplet de-duplicates by wire id
          starts.set(wireId, { propletId: id, at });
          const m = buildTaskStarted(channel, { wireId, propletId: id, ...(start.value.attempt === undefined ? {} : { attempt: start.value.attempt }) });
          client.publish(m.topic, m.payload, { qos: 1 });
        });
        await client.subscribeAsync(topicsFor(channel).startFor(id), { qos: 1 });
        const sim: SimProplet = { id, site, client, timer: undefined, lastBeatAt: 0 };
        const beat = (): void => {
          const m = buildAlive(channel, { propletId: id });
          sim.lastBeatAt = Date.now();
          client.publish(m.topic, m.payload, { qos: m.qos });
        };
        beat();
        sim.timer = setInterval(beat, heartbeatMs);
        sims.push(sim);
      }
      await waitFor(() => sims.every((s) => reached(s.id, 'healthy') !== undefined), 'every simulated proplet to be healthy', 60_000);
      ctx.log(`${n} proplets healthy in ${sites} sites`);
      await waitUntilServing(scheduler, 30_000);

      // Long-running tasks in flight: created, started, placed by the scheduler, dispatched by the gateway to
      // their proplet, which answers task_started (relayed by the gateway); nothing ends them.
      const digest = `sha256:${createHash('sha256').update(ADD_WASM).digest('hex')}`;
      await (await new Objm(nc).open(names.modules)).putBlob({ name: digest }, ADD_WASM);
      const taskIds = Array.from({ length: taskCount }, () => randomUUID());
      const cmd = (name: string, data: Record<string, unknown>) =>
        sendCommand(nc, names, 'task', name, { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data });
      await pool(
        taskIds.map((taskId) => async () => {
          await cmd('create', { taskId, name: 'long-run', functionName: 'add', module: { digest, size: ADD_WASM.byteLength, source: 'inline' }, inputs: ['1', '2'] });
          await cmd('start', { taskId });
        }),
        16,
      );
      await waitFor(() => taskIds.every((id) => placements.get(id)?.has(1)), 'every task placed', 60_000);
      await waitFor(() => taskIds.every((id) => running.has(id)), 'every task started on its proplet and running', 60_000);
      const firstStarts = taskIds.flatMap((id) => {
        const p = placements.get(id)?.get(1);
        const s = p === undefined ? undefined : starts.get(p.wireId);
        return p === undefined || s === undefined ? [] : [s.at - p.at];
      });
      ctx.log(`${taskCount} tasks running (task_started from their proplet); TaskScheduled → start on the device p50/p99 ${JSON.stringify(p5099(firstStarts))} ms`);

      // Victims: wills and silences alternate across sites, at most half of any site (unless --breaker).
      const bySite = new Map<string, SimProplet[]>();
      for (const s of sims) bySite.set(s.site, [...(bySite.get(s.site) ?? []), s]);
      const victims: SimProplet[] = [];
      if (breakerRun) {
        const first = bySite.get('site-0') ?? [];
        const six = Math.min(first.length, Math.ceil(first.length * 0.6));
        first.slice(0, six).forEach((s, i) => victims.push(Object.assign(s, { how: i % 2 === 0 ? ('will' as const) : ('silence' as const) })));
      } else {
        const taken = new Map<string, number>();
        const order = [...bySite.values()].flatMap((group, g) => group.map((s, i) => ({ s, key: i * sites + g }))).sort((a, b) => a.key - b.key).map((x) => x.s);
        for (const s of order) {
          if (victims.length >= 2 * kill) break;
          const k = taken.get(s.site) ?? 0;
          if (k + 1 > Math.floor((bySite.get(s.site)?.length ?? 0) / 2)) continue;
          taken.set(s.site, k + 1);
          victims.push(Object.assign(s, { how: victims.length % 2 === 0 ? ('will' as const) : ('silence' as const) }));
        }
      }
      const wills = victims.filter((v) => v.how === 'will');
      const silences = victims.filter((v) => v.how === 'silence');
      ctx.log(`killing ${wills.length} by destroying their sockets (last-will) and ${silences.length} by silence${breakerRun ? ' — all in site-0, to open its breaker' : ''}`);
      for (const v of victims) {
        clearInterval(v.timer);
        v.killedAt = Date.now();
        if (v.how === 'will') v.client.stream.destroy();
      }
      const deadline = failureMs + 3 * intervalMs + 15_000;
      await waitFor(() => victims.every((v) => reached(v.id, 'failed') !== undefined), 'every victim to be failed', deadline);
      // Every task of a failed proplet outside a paused site gets a new placement on a survivor.
      const victimById = new Map(victims.map((v) => [v.id, v]));
      const pausedSites = new Set(paused.map((e) => e.aggregateId));
      const evacuable = taskIds.filter((id) => {
        const home = victimById.get(placements.get(id)?.get(1)?.propletId ?? '');
        return home !== undefined && !pausedSites.has(home.site);
      });
      const held = taskIds.filter((id) => {
        const home = victimById.get(placements.get(id)?.get(1)?.propletId ?? '');
        return home !== undefined && pausedSites.has(home.site);
      });
      // The next attempt's start (its wire id, from TaskScheduled) must reach a proplet's MQTT client.
      const nextStart = (id: string): StartArrival | undefined => {
        const wireId = placements.get(id)?.get(2)?.wireId;
        return wireId === undefined ? undefined : starts.get(wireId);
      };
      await waitFor(() => evacuable.every((id) => nextStart(id) !== undefined), 'the start of every evacuated task on a proplet', 30_000).catch((e: unknown) =>
        ctx.log(`WARNING: ${e instanceof Error ? e.message : String(e)}`),
      );
      const samples = evacuationSamples(
        evacuable.map((id) => {
          const from = placements.get(id)?.get(1)?.propletId ?? '';
          return { from, failedAt: reached(from, 'failed'), scheduledAt: placements.get(id)?.get(2)?.at, started: nextStart(id) };
        }),
        (id) => victimById.has(id),
      );
      const onVictims = evacuable.filter((id) => victimById.has(placements.get(id)?.get(2)?.propletId ?? '')).length;
      // Survivors never judged down.
      const disturbed = sims.filter((s) => !victims.includes(s) && (health.get(s.id) ?? []).some((h) => h.to !== 'healthy'));

      const offlineOvershoot = silences.map((v) => (reached(v.id, 'offline') ?? NaN) - v.lastBeatAt - offlineMs);
      const failedOvershoot = silences.map((v) => (reached(v.id, 'failed') ?? NaN) - v.lastBeatAt - failureMs);
      const lwtOffline = wills.map((v) => (reached(v.id, 'offline') ?? NaN) - (v.killedAt ?? NaN));
      const results = {
        input: 'real MQTT clients (last-will on socket destroy) through the mqtt-gateway into the liveness KV',
        proplets: n,
        sites,
        killed_by_will: wills.length,
        killed_by_silence: silences.length,
        thresholds_ms: { offline: offlineMs, failed: failureMs, check_interval: intervalMs, heartbeat: heartbeatMs },
        offline_overshoot_ms: p5099(offlineOvershoot),
        failed_overshoot_ms: p5099(failedOvershoot),
        lwt_offline_ms: p5099(lwtOffline),
        // Victims whose transition was never seen (excluded from the percentiles above).
        not_seen: { offline_after_silence: missing(offlineOvershoot), failed_after_silence: missing(failedOvershoot), offline_after_will: missing(lwtOffline) },
        tasks: taskCount,
        tasks_on_failed_proplets: evacuable.length + held.length,
        tasks_held_by_breaker: held.length,
        // Must be 0: the scheduler moves nothing of a paused site.
        tasks_held_but_moved: held.filter((id) => placements.get(id)?.has(2)).length,
        tasks_placed_again: samples.toScheduled.length,
        tasks_placed_again_on_a_failed_proplet: onVictims,
        tasks_started_on_a_survivor: samples.toStart.length,
        tasks_started_on_a_killed_proplet: samples.startedOnVictim,
        tasks_not_started_again: samples.notStarted,
        starts_that_did_not_parse: invalidStarts,
        evacuation_ms: p5099(samples.toStart),
        evacuation_to_scheduled_ms: p5099(samples.toScheduled),
        evacuation_dispatch_ms: p5099(samples.scheduledToStart),
        // First and last task of the batch: how much of the p99 is the batch waiting in line rather than the floor.
        evacuation_spread_ms:
          samples.toStart.length === 0
            ? null
            : { first: Math.min(...samples.toStart), last: Math.max(...samples.toStart), scheduled_first: Math.min(...samples.toScheduled), scheduled_last: Math.max(...samples.toScheduled) },
        evacuation_note:
          'evacuation_ms: PropletHealthChanged → failed (its changedAt) until the start message of the next attempt (its wire id) reached the MQTT client of a surviving proplet — scheduler evacuation and placement, gateway dispatch (module from the object store, per-proplet topic, QoS 1) and the broker included. evacuation_to_scheduled_ms: the same start point until TaskScheduled of the next attempt was received (the measure before dispatch existed); evacuation_dispatch_ms: that TaskScheduled → the start at the proplet. The gateway runs as its own process (main.ts), the scheduler too; registry and monitor in the bench process.',
        breaker: {
          run: breakerRun ? 'opening (6 of a site killed)' : 'closed (at most half of any site killed)',
          paused_sites: paused.map((e) => e.aggregateId),
          pauses: paused.map((e) => e.data),
        },
        survivors_disturbed: disturbed.map((s) => s.id),
        gateway_warnings: logSummary(gateway.logs()),
      };
      ctx.table('failover (ms)', [
        { measure: 'last heartbeat → offline, minus threshold', ...fmt(results.offline_overshoot_ms) },
        { measure: 'last heartbeat → failed, minus threshold', ...fmt(results.failed_overshoot_ms) },
        { measure: 'last-will (socket destroyed) → offline', ...fmt(results.lwt_offline_ms) },
        { measure: `failed → next start reached a survivor's MQTT client (${samples.toStart.length} tasks)`, ...fmt(results.evacuation_ms) },
        { measure: `failed → placed again (TaskScheduled, ${samples.toScheduled.length} tasks)`, ...fmt(results.evacuation_to_scheduled_ms) },
        { measure: 'placed again → start at the survivor (dispatch)', ...fmt(results.evacuation_dispatch_ms) },
      ]);
      ctx.log(`breaker: ${results.breaker.run}; paused sites: ${results.breaker.paused_sites.join(', ') || 'none'}`);
      if (held.length > 0) ctx.log(`${held.length} tasks of paused sites stay where they are (breaker open)`);
      if (samples.notStarted > 0 || samples.startedOnVictim > 0) ctx.log(`WARNING: ${samples.notStarted} evacuated tasks never started again, ${samples.startedOnVictim} started on a killed proplet`);
      if (disturbed.length > 0) ctx.log(`WARNING: surviving proplets judged down: ${disturbed.map((s) => s.id).join(', ')}`);
      return results;
    } finally {
      for (const s of sims) {
        clearInterval(s.timer);
        s.client.end(true);
      }
      tap.unsubscribe();
      taskTap.unsubscribe();
      await scheduler.stop('SIGTERM', 10_000).catch(() => undefined);
      await monitor.stop().catch(() => undefined);
      await gateway.stop('SIGTERM', 10_000).catch(() => undefined);
      await registry.stop().catch(() => undefined);
      await cleanupInbox(nc, names).catch(() => undefined);
      await cleanup(nc, names).catch(() => undefined);
      await nc.close();
      await t.drop().catch(() => undefined);
      await tasksDb.drop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

function fmt(x: { p50: number; p99: number } | null): { p50: string | number; p99: string | number } {
  return x === null ? { p50: 'n/a', p99: 'n/a' } : x;
}
