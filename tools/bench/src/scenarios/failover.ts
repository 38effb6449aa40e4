/* eslint-disable @nx/enforce-module-boundaries -- a benchmark runs the real services (registry, gateway, monitor) in-process */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDuration } from '@propeller/config';
import { SITE_LABEL, parseStoredEvent, type PropletHealthChangedData, type StoredEnvelope, type StoredEventEnvelope } from '@propeller/events';
import { provision, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { startHealthMonitor } from '@propeller/health-monitor';
import { startGateway } from '@propeller/mqtt-gateway';
import { cleanupInbox, testGatewayConfig } from '@propeller/mqtt-gateway/testing';
import { buildAlive, buildLastWill, wireIdFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
import { startRegistry } from '@propeller/registry';
import { bundleService, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
import { createMetrics } from '@propeller/telemetry';
import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import type { BenchContext, Scenario } from '../harness';
import { percentiles } from '../stats';

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const ROOT = resolve(__dirname, '../../../..');

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

const p5099 = (xs: number[]): { p50: number; p99: number } | null => (xs.length === 0 ? null : (({ p50, p99 }) => ({ p50: Math.round(p50), p99: Math.round(p99) }))(percentiles(xs, [50, 99])));

/**
 * `npm run bench -- failover [--proplets 40] [--sites 4] [--kill 8] [--tasks 250] [--breaker] [--offline 2s] [--failure 4s]
 * [--interval 1s] [--heartbeat 500ms]`: the registry, the mqtt-gateway and the health monitor run in this
 * process against the real NATS, Postgres and Mosquitto; N simulated proplets are real MQTT clients with
 * their last-will, beating through the gateway into the liveness KV. K of them are killed by destroying
 * their sockets without DISCONNECT (the broker sends the will) and K others by silence, at most half of
 * any site so the breaker stays closed; `--breaker` kills 6 of the first site's proplets instead, to show it
 * opening. `--tasks` long-running tasks are placed by the scheduler (its own process) and reported started;
 * those on failed proplets are evacuated. Prints and saves the offline/failed overshoot over the
 * thresholds, will→offline, and failed→placed again on a survivor, p50/p99.
 */
export const scenario: Scenario = {
  name: 'failover',
  description: 'health monitor: offline/failed overshoot, last-will → offline, evacuation (args: --proplets --sites --kill --tasks --breaker --offline --failure --interval --heartbeat)',
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
    if (failureMs <= offlineMs) throw new Error('--failure must exceed --offline');

    const nc = await connectTest('bench-failover');
    const names = testNames();
    const domainId = `bf${randomBytes(4).toString('hex')}`;
    const channel: ChannelRef = { domainId, channelId: 'control', layout: 'messages' };
    await provision(nc, names, { leaseTtlMs: Math.max(1_000, Math.min(intervalMs, 2_000)) });
    const t = testDb<ReadModelTables>({ poolMax: 2 });
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const registry = await startRegistry({ nc, names, db: t.db, registry: new Registry() });
    const gateway = await startGateway({ config: testGatewayConfig(names, domainId), nc, names, metrics: createMetrics({ defaultMetrics: false }), logger: quiet });
    // The scheduler runs as its own process (its bundle), as in production; it evacuates failed proplets' tasks.
    const dir = mkdtempSync(join(tmpdir(), 'propeller-bench-failover-'));
    const tasksDb = testDb({ poolMax: 1 });
    const scheduler: SpawnedService = spawnNode(bundleService(resolve(ROOT, 'apps/scheduler/src/main.ts'), join(dir, 'scheduler.cjs')), {
      cwd: dir,
      env: {
        METRICS_PORT: '0',
        PROPELLER_NATS_PREFIX: names.prefix,
        PROPELLER_NATS_LEASE_TTL: `${Math.max(1_000, Math.min(intervalMs, 2_000))}ms`,
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
    // Per task: where and when each attempt was scheduled (receipt time), and whether it runs.
    const placements = new Map<string, Map<number, { propletId: string; at: number }>>();
    const running = new Set<string>();
    const taskTap = nc.subscribe(names.eventFilter('task'), {
      callback: (err, msg) => {
        if (err) return;
        const e = parseStoredEvent({ ...msg.json<StoredEnvelope>(), seq: 0 });
        if (e.type === 'TaskScheduled') {
          const d = e.data as { propletId: string; attempt: number };
          const m = placements.get(e.aggregateId) ?? new Map<number, { propletId: string; at: number }>();
          m.set(d.attempt, { propletId: d.propletId, at: Date.now() });
          placements.set(e.aggregateId, m);
        } else if (e.type === 'TaskRunning') running.add(e.aggregateId);
      },
    });

    const sims: SimProplet[] = [];
    try {
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
            channel: { ...channel, perPropletTopics: false },
          },
        });
        const will = buildLastWill(channel, { propletId: id });
        const client = await mqtt.connectAsync(BROKER, {
          clientId: `${domainId}-${id}`,
          reconnectPeriod: 0,
          will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: false },
        });
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

      // Long-running tasks in flight: created, started, placed, and reported started by their proplet
      // (the commands the gateway sends for task_started; nothing ends them).
      const taskIds = Array.from({ length: taskCount }, () => randomUUID());
      const cmd = (name: string, data: Record<string, unknown>) =>
        sendCommand(nc, names, 'task', name, { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data });
      await pool(
        taskIds.map((taskId) => async () => {
          await cmd('create', { taskId, name: 'long-run', imageUrl: 'registry.example/long-run:1' });
          await cmd('start', { taskId });
        }),
        16,
      );
      await waitFor(() => taskIds.every((id) => placements.get(id)?.has(1)), 'every task placed', 60_000);
      await pool(
        taskIds.map((taskId) => () => cmd('recordStarted', { taskId, wireId: wireIdFor(taskId, 1), propletId: placements.get(taskId)?.get(1)?.propletId, attempt: 1 })),
        16,
      );
      await waitFor(() => taskIds.every((id) => running.has(id)), 'every task running', 60_000);
      ctx.log(`${taskCount} tasks running`);

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
      await waitFor(() => evacuable.every((id) => placements.get(id)?.has(2)), 'every task of a failed proplet placed again', 30_000).catch((e: unknown) =>
        ctx.log(`WARNING: ${e instanceof Error ? e.message : String(e)}`),
      );
      const evacuation = evacuable.flatMap((id) => {
        const again = placements.get(id)?.get(2);
        const from = placements.get(id)?.get(1)?.propletId ?? '';
        const failedAt = reached(from, 'failed');
        return again === undefined || failedAt === undefined ? [] : [again.at - failedAt];
      });
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
        tasks: taskCount,
        tasks_on_failed_proplets: evacuable.length + held.length,
        tasks_held_by_breaker: held.length,
        // Must be 0: the scheduler moves nothing of a paused site.
        tasks_held_but_moved: held.filter((id) => placements.get(id)?.has(2)).length,
        tasks_placed_again: evacuation.length,
        tasks_placed_again_on_a_failed_proplet: onVictims,
        evacuation_ms: p5099(evacuation),
        evacuation_note:
          'failed (PropletHealthChanged) → the task placed again on a surviving proplet (TaskScheduled of attempt 2, as received). The start message reaching the device over MQTT is not included: the gateway does not dispatch starts yet.',
        breaker: {
          run: breakerRun ? 'opening (6 of a site killed)' : 'closed (at most half of any site killed)',
          paused_sites: paused.map((e) => e.aggregateId),
          pauses: paused.map((e) => e.data),
        },
        survivors_disturbed: disturbed.map((s) => s.id),
      };
      ctx.table('failover (ms)', [
        { measure: 'last heartbeat → offline, minus threshold', ...fmt(results.offline_overshoot_ms) },
        { measure: 'last heartbeat → failed, minus threshold', ...fmt(results.failed_overshoot_ms) },
        { measure: 'last-will (socket destroyed) → offline', ...fmt(results.lwt_offline_ms) },
        { measure: `failed → placed again on a survivor (${evacuation.length} tasks)`, ...fmt(results.evacuation_ms) },
      ]);
      ctx.log(`breaker: ${results.breaker.run}; paused sites: ${results.breaker.paused_sites.join(', ') || 'none'}`);
      if (held.length > 0) ctx.log(`${held.length} tasks of paused sites stay where they are (breaker open)`);
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
      await gateway.stop().catch(() => undefined);
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
