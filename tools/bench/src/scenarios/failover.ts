/* eslint-disable @nx/enforce-module-boundaries -- a benchmark runs the real services (registry, gateway, monitor) in-process */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseDuration } from '@propeller/config';
import { SITE_LABEL, parseStoredEvent, type PropletHealthChangedData, type StoredEnvelope, type StoredEventEnvelope } from '@propeller/events';
import { provision, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { startHealthMonitor } from '@propeller/health-monitor';
import { startGateway } from '@propeller/mqtt-gateway';
import { cleanupInbox, testGatewayConfig } from '@propeller/mqtt-gateway/testing';
import { buildAlive, buildLastWill, type ChannelRef } from '@propeller/mqtt-protocol';
import { testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
import { startRegistry } from '@propeller/registry';
import { createMetrics } from '@propeller/telemetry';
import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import type { BenchContext, Scenario } from '../harness';
import { percentiles } from '../stats';

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';

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
 * `npm run bench -- failover [--proplets 40] [--sites 4] [--kill 8] [--breaker] [--offline 2s] [--failure 4s]
 * [--interval 1s] [--heartbeat 500ms]`: the registry, the mqtt-gateway and the health monitor run in this
 * process against the real NATS, Postgres and Mosquitto; N simulated proplets are real MQTT clients with
 * their last-will, beating through the gateway into the liveness KV. K of them are killed by destroying
 * their sockets without DISCONNECT (the broker sends the will) and K others by silence, at most half of
 * any site so the breaker stays closed; `--breaker` kills 6 of the first site's proplets instead, to show it
 * opening. Prints and saves the offline/failed overshoot over the thresholds and will→offline, p50/p99.
 */
export const scenario: Scenario = {
  name: 'failover',
  description: 'health monitor: offline/failed overshoot, last-will → offline (args: --proplets --sites --kill --breaker --offline --failure --interval --heartbeat)',
  async run(ctx: BenchContext) {
    const n = flag(ctx.args, 'proplets', 40);
    const sites = Math.max(1, flag(ctx.args, 'sites', 4));
    const kill = flag(ctx.args, 'kill', 8);
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
        evacuation_ms: null,
        evacuation_note: 'not measured: the scheduler service (the evacuation reaction to PropletHealthChanged → failed) is not in the repository yet, so no tasks run on the simulated proplets',
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
        { measure: 'failed → every task restarted elsewhere', p50: 'n/a', p99: 'n/a (no scheduler)' },
      ]);
      ctx.log(`breaker: ${results.breaker.run}; paused sites: ${results.breaker.paused_sites.join(', ') || 'none'}`);
      if (disturbed.length > 0) ctx.log(`WARNING: surviving proplets judged down: ${disturbed.map((s) => s.id).join(', ')}`);
      return results;
    } finally {
      for (const s of sims) {
        clearInterval(s.timer);
        s.client.end(true);
      }
      tap.unsubscribe();
      await monitor.stop().catch(() => undefined);
      await gateway.stop().catch(() => undefined);
      await registry.stop().catch(() => undefined);
      await cleanupInbox(nc, names).catch(() => undefined);
      await cleanup(nc, names).catch(() => undefined);
      await nc.close();
      await t.drop().catch(() => undefined);
    }
  },
};

function fmt(x: { p50: number; p99: number } | null): { p50: string | number; p99: string | number } {
  return x === null ? { p50: 'n/a', p99: 'n/a' } : x;
}
