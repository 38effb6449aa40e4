import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { KvWatchInclude, Kvm } from '@nats-io/kv';
import { decodeKvToken, natsNames, PROPLET_LIVENESS_FILTER } from '@propeller/events';
import { isStreamNotFound, provision } from '@propeller/eventstore';
import { cleanup, connectTest } from '@propeller/eventstore/testing';
import { TEST_DATABASE_URL, testDb, testSchema } from '@propeller/projections/testing';
import type { BenchContext, Scenario } from '../harness';
import { cpuSeconds, percentiles, rssMb } from '../stats';

const ROOT = resolve(__dirname, '../../../..');
const GATEWAY_MAIN = resolve(ROOT, 'apps/mqtt-gateway/src/main.ts');
const REGISTRY_MAIN = resolve(ROOT, 'apps/registry/src/main.ts');
const API_MAIN = resolve(ROOT, 'apps/api/src/main.ts');
const SIM = resolve(__dirname, '../sim/devices.ts');
const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
/** Devices by default: finishes in about two minutes on the shared 2-core machine. */
const DEFAULT_DEVICES = 2_000;
/** Connections per simulator process. */
const PER_PROCESS = 2_500;
const BEAT_MS = 10_000;
/** Devices whose heartbeats are followed through `GET /proplets/{id}` by default: few enough that the poller does not dominate. */
const DEFAULT_SAMPLE = 100;
/** Pause between two polling rounds of the API (ms): the resolution of the API-visible lag. */
const POLL_MS = 20;
/** A beat not visible in the API within this long is counted as missed (ms). */
const API_GIVE_UP_MS = BEAT_MS;
/** How often the simulators report their beats (ms): the API poller starts on a beat this long after it was sent, at most. */
const SIM_FLUSH_MS = 10;
interface Proc {
  child: ChildProcess;
  lines: (fn: (line: string) => void) => void;
  exited: Promise<number | null>;
}

/** `node --import tsx <file>`: one process, so its pid is the service's own (CPU, RSS) and a signal reaches it. */
function spawnTs(file: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const listeners: Array<(line: string) => void> = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString('utf8');
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) for (const l of listeners) l(line);
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4_000)));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  void exited.then((code) => {
    if (code !== 0 && code !== null && err) process.stderr.write(`${file} exited ${code}: ${err}\n`);
  });
  return { child, lines: (fn) => void listeners.push(fn), exited };
}

/** The first JSON log line of `proc` whose `msg` is `msg`, within `ms`. */
function logged(proc: Proc, msg: string, ms: number, what: string): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      rej(new Error(`${what} did not log "${msg}" within ${ms / 1000} s`));
    }, ms);
    proc.lines((l) => {
      if (done || !l.includes(`"msg":"${msg}"`)) return;
      done = true;
      clearTimeout(timer);
      res(JSON.parse(l) as Record<string, unknown>);
    });
  });
}

function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((res) => {
    const t = setInterval(() => {
      if (cond() || Date.now() > deadline) {
        clearInterval(t);
        res(cond());
      }
    }, 100);
  });
}

/** Cumulative bucket counts of the gateway's heartbeat handling histogram, by upper bound in seconds. */
async function handlingBuckets(port: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!port) return out;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const re = /^propeller_gateway_handling_seconds_bucket\{([^}]*)\} (\d+(?:\.\d+)?)$/gm;
  for (const m of text.matchAll(re)) {
    const labels = m[1] ?? '';
    if (!labels.includes('connection="heartbeats"')) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (le !== undefined) out.set(le === '+Inf' ? Infinity : Number(le), Number(m[2]));
  }
  return out;
}

/** p50/p99 upper bounds (ms) of the observations made between two histogram scrapes. */
function bucketPercentiles(before: Map<number, number>, after: Map<number, number>): { p50: number; p99: number; count: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  const at = (q: number): number => {
    for (const b of bounds) if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= q * count) return b * 1000;
    return NaN;
  };
  return { p50: at(0.5), p99: at(0.99), count };
}

const intArg = (ctx: BenchContext, i: number, name: string, dflt: number): number => {
  const raw = ctx.args[i];
  const v = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return v;
};

export const scenario: Scenario = {
  name: 'heartbeats',
  description: `N simulated devices (own MQTT connections, ${PER_PROCESS} per simulator process) register and beat every 10 s against real gateway, registry and API processes; lag = heartbeat → last_seen_at in GET /proplets/{id} on a sample of devices (and → liveness KV on all); args: [devices=${DEFAULT_DEVICES}] [seconds measured=40] [devices sampled through the API=${DEFAULT_SAMPLE}]`,
  async run(ctx) {
    const devices = intArg(ctx, 0, 'devices', DEFAULT_DEVICES);
    const seconds = intArg(ctx, 1, 'seconds', 40);
    const sampleSize = Math.min(devices, intArg(ctx, 2, 'sampled devices', DEFAULT_SAMPLE));
    const names = natsNames(`bench${randomBytes(4).toString('hex')}`);
    const domainId = `bench${randomBytes(4).toString('hex')}`;
    const nc = await connectTest('bench-heartbeats');
    await provision(nc, names);
    // The registry migrates this schema and projects `proplets` into it; the API reads it. Dropped at the end.
    const pg = testDb({ poolMax: 1, schema: testSchema('bench') });
    const services = {
      NATS_URL,
      PROPELLER_NATS_PREFIX: names.prefix,
      DATABASE_URL: TEST_DATABASE_URL,
      PROPELLER_DATABASE_SCHEMA: pg.schema,
      DATABASE_POOL_MAX: '2',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    const procs: Proc[] = [];
    let gateway: Proc | undefined;
    let registryProc: Proc | undefined;
    let apiProc: Proc | undefined;
    // Ends the API poller if the run fails half-way (set once the poller exists).
    let stopPolling = (): void => undefined;
    try {
      registryProc = spawnTs(REGISTRY_MAIN, services);
      await logged(registryProc, 'started', 30_000, 'the registry');
      apiProc = spawnTs(API_MAIN, { ...services, PORT: '0' });
      const serving = await logged(apiProc, 'serving the REST API', 30_000, 'the API');
      const api = `http://127.0.0.1:${String(serving['port'])}`;
      const registryPid = registryProc.child.pid as number;
      const apiPid = apiProc.child.pid as number;
      gateway = spawnTs(GATEWAY_MAIN, {
        ...services,
        MQTT_BROKER: BROKER,
        PROPELLER_DOMAIN_ID: domainId,
        GATEWAY_REPLICA: 'bench',
        // The bench's persistent session must not linger on the broker for the default week.
        GATEWAY_SESSION_EXPIRY: '1m',
        PROPELLER_MQTT_CLIENT_ID: `bench-gw-${domainId}`,
      });
      let started = false;
      let metricsPort = 0;
      gateway.lines((l) => {
        if (l.includes('"msg":"started"')) started = true;
        if (l.includes('"msg":"serving /health and /metrics"')) metricsPort = Number((JSON.parse(l) as { port?: unknown }).port);
      });
      if (!(await until(() => started, 30_000))) throw new Error('the gateway did not start within 30 s');
      const gatewayPid = gateway.child.pid as number;
      const cpuAtStart = cpuSeconds(gatewayPid);

      // Visible = written to the liveness KV, seen by a watcher on the same NATS.
      const kv = await new Kvm(nc).open(names.kv.liveness);
      // Per device: when the simulator handed each beat to its socket, and when each write became visible.
      // Matched after the window (the simulator's lines arrive up to 100 ms late): a visible write belongs to the
      // latest beat sent before it.
      const sends: number[][] = Array.from({ length: devices }, () => []);
      const visibles: number[][] = Array.from({ length: devices }, () => []);
      // Visible = the server's store time of the KV write (`created`), so a busy watcher here does not add its own delay.
      let window = { from: Infinity, to: Infinity };

      // API-visible lag on a sample spread over the device indexes: a beat sent in the window is pending until
      // GET /proplets/{id} shows a last_seen_at at or after it (the gateway stamps `at` when it reads the beat;
      // 1 s of slack for the simulator stamping its send a moment after the socket write). Lag = when that
      // answer arrived - send time; each pending device is polled every POLL_MS, so the figure includes up to
      // POLL_MS (or a tenth of the lag, when larger) + one request of polling delay, and a beat already visible when the simulator's line arrives (up to
      // SIM_FLUSH_MS after the send) counts as visible at that first answer.
      const stride = Math.max(1, Math.floor(devices / sampleSize));
      const sampled = new Set(Array.from({ length: sampleSize }, (_, k) => k * stride));
      const pending = new Map<number, number>();
      const lastPolled = new Map<number, number>();
      const apiLags: number[] = [];
      let apiMissed = 0;
      let apiPolls = 0;
      let apiPollErrors = 0;
      let polling = true;
      const onSampledBeat = (index: number, at: number): void => {
        if (!sampled.has(index) || at < window.from || at > window.to) return;
        // A beat still pending when the next one is sent was not visible for a whole period.
        if (pending.has(index)) apiMissed += 1;
        pending.set(index, at);
      };
      stopPolling = () => {
        polling = false;
        pending.clear();
      };
      const poller = (async () => {
        while (polling || pending.size > 0) {
          // A beat pending for long is polled less often (every tenth of its age, at least POLL_MS), so a lagging
          // plane is not buried under the poller: the lag keeps a resolution of about 10 %.
          const t = Date.now();
          const round = [...pending].filter(([index, sentAt]) => t - (lastPolled.get(index) ?? 0) >= Math.max(POLL_MS, (t - sentAt) / 10));
          await Promise.all(
            round.map(async ([index, sentAt]) => {
              apiPolls += 1;
              lastPolled.set(index, Date.now());
              try {
                const res = await fetch(`${api}/proplets/sim-${index}`);
                const body = res.status === 200 ? ((await res.json()) as { last_seen_at?: string | null }) : {};
                const seenAt = body.last_seen_at ? Date.parse(body.last_seen_at) : NaN;
                const answered = Date.now();
                if (pending.get(index) !== sentAt) return;
                if (seenAt >= sentAt - 1_000) {
                  apiLags.push(answered - sentAt);
                  pending.delete(index);
                } else if (answered - sentAt > API_GIVE_UP_MS) {
                  apiMissed += 1;
                  pending.delete(index);
                }
              } catch {
                apiPollErrors += 1;
              }
            }),
          );
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      })();
      let absorbed = 0;
      const watch = await kv.watch({ key: PROPLET_LIVENESS_FILTER, include: KvWatchInclude.UpdatesOnly });
      void (async () => {
        for await (const e of watch) {
          const stored = e.created.getTime();
          const index = Number(decodeKvToken(e.key.slice('proplet.'.length)).slice('sim-'.length));
          if (stored < window.from || stored > window.to || !(index >= 0 && index < devices)) continue;
          absorbed += 1;
          visibles[index]?.push(stored);
        }
      })();

      const processes = Math.ceil(devices / PER_PROCESS);
      const connected = new Array<number>(processes).fill(0);
      const failed = new Array<number>(processes).fill(0);
      const done = new Array<boolean>(processes).fill(false);
      const errors: string[] = [];
      ctx.log(`connecting ${devices} devices from ${processes} simulator process(es)...`);
      for (let p = 0; p < processes; p++) {
        const count = Math.min(PER_PROCESS, devices - p * PER_PROCESS);
        const sim = spawnTs(SIM, { SIM_BROKER: BROKER, SIM_DOMAIN: domainId, SIM_PREFIX: 'sim', SIM_COUNT: String(count), SIM_OFFSET: String(p * PER_PROCESS), SIM_BEAT_MS: String(BEAT_MS), SIM_FLUSH_MS: String(SIM_FLUSH_MS) });
        procs.push(sim);
        sim.lines((l) => {
          if (l.startsWith('b ')) {
            const [, i, at] = l.split(' ');
            sends[Number(i)]?.push(Number(at));
            onSampledBeat(Number(i), Number(at));
          } else if (l.startsWith('c ')) {
            const [, c, f] = l.split(' ');
            connected[p] = Number(c);
            failed[p] = Number(f);
          } else if (l === 'done') {
            done[p] = true;
          } else if (l.startsWith('e ') && errors.length < 5) {
            errors.push(l.slice(2));
          }
        });
      }
      const rampStart = Date.now();
      await until(() => done.every(Boolean), 120_000);
      const total = (a: number[]) => a.reduce((x, y) => x + y, 0);
      const rampSeconds = (Date.now() - rampStart) / 1000;
      ctx.log(`${total(connected)} connected, ${total(failed)} failed in ${rampSeconds.toFixed(1)} s${errors.length ? `; errors: ${errors.join(' | ')}` : ''}`);
      // Registered = listed by the API (gateway → registry → projection → Postgres → API).
      let registered = 0;
      const registeredDeadline = Date.now() + 120_000;
      while (registered < total(connected) && Date.now() < registeredDeadline) {
        const res = await fetch(`${api}/proplets?limit=1`).catch(() => undefined);
        if (res?.status === 200) registered = ((await res.json()) as { total: number }).total;
        if (registered < total(connected)) await new Promise((r) => setTimeout(r, 500));
      }
      ctx.log(`${registered} registered (listed by the API); measuring ${seconds} s of heartbeats, ${sampled.size} devices followed through the API...`);

      const handlingBefore = await handlingBuckets(metricsPort);
      const cpuBefore = cpuSeconds(gatewayPid);
      const registryCpuBefore = cpuSeconds(registryPid);
      const apiCpuBefore = cpuSeconds(apiPid);
      const t0 = Date.now();
      window = { from: t0, to: Infinity };
      await new Promise((r) => setTimeout(r, seconds * 1000));
      window = { from: t0, to: Date.now() };
      const windowS = (window.to - t0) / 1000;
      const cpuWindow = cpuSeconds(gatewayPid) - cpuBefore;
      const registryCpuWindow = cpuSeconds(registryPid) - registryCpuBefore;
      const apiCpuWindow = cpuSeconds(apiPid) - apiCpuBefore;
      const rss = rssMb(gatewayPid);
      const handlingAfter = await handlingBuckets(metricsPort);
      const handling = bucketPercentiles(handlingBefore, handlingAfter);
      // Let the simulators' last lines and the watcher's backlog arrive before matching.
      await new Promise((r) => setTimeout(r, 2_000));
      watch.stop();
      // Beats sent in the window and still pending get until API_GIVE_UP_MS to show (or count as missed).
      polling = false;
      await poller;
      const lags: number[] = [];
      for (let d = 0; d < devices; d++) {
        const sent = (sends[d] ?? []).sort((a, b) => a - b);
        let k = 0;
        for (const v of visibles[d] ?? []) {
          while (k + 1 < sent.length && (sent[k + 1] as number) <= v) k++;
          const s0 = sent[k];
          if (s0 !== undefined && s0 <= v) lags.push(v - s0);
        }
      }

      const { p50, p99 } = percentiles(lags, [50, 99]);
      const max = lags.length ? Math.max(...lags) : NaN;
      const apiPct = percentiles(apiLags, [50, 99]);
      const apiMax = apiLags.length ? Math.max(...apiLags) : NaN;
      const round1 = (n: number): number => Math.round(n * 10) / 10;
      const perSecond = Math.round((absorbed / windowS) * 10) / 10;
      const figures = {
        devices: total(connected),
        devices_requested: devices,
        devices_failed: total(failed),
        simulator_processes: processes,
        ramp_seconds: Math.round(rampSeconds * 10) / 10,
        registered,
        heartbeats_per_second: perSecond,
        expected_heartbeats_per_second: Math.round((total(connected) / (BEAT_MS / 1000)) * 10) / 10,
        // heartbeat sent → last_seen_at at or after it in GET /proplets/{id}, on the sampled devices.
        lag_ms: { p50: apiPct.p50, p99: apiPct.p99, max: apiMax, samples: apiLags.length, missed: apiMissed },
        visible: `GET /proplets/{id} shows last_seen_at ≥ the beat (API and registry processes, ${sampled.size} sampled devices, polled every ${POLL_MS} ms while a beat is pending)`,
        api_polls_per_second: round1(apiPolls / windowS),
        api_poll_errors: apiPollErrors,
        // heartbeat sent → stored in the liveness KV (server store time), on every device.
        kv_lag_ms: { p50, p99, max, samples: lags.length },
        // The gateway's own share of the lag: read off the socket → liveness KV written, from its histogram
        // (bucket upper bounds, so "≤"). The rest is the simulators, the broker and the machine.
        gateway_handling_ms_at_most: handling,
        gateway_cpu_seconds: { during_window: Math.round(cpuWindow * 100) / 100, since_start: Math.round((cpuSeconds(gatewayPid) - cpuAtStart) * 100) / 100 },
        gateway_cpu_share_of_one_core: Math.round((cpuWindow / windowS) * 1000) / 1000,
        gateway_rss_mb: rss,
        registry_cpu_seconds_window: Math.round(registryCpuWindow * 100) / 100,
        registry_rss_mb: rssMb(registryPid),
        api_cpu_seconds_window: Math.round(apiCpuWindow * 100) / 100,
        api_rss_mb: rssMb(apiPid),
        window_seconds: Math.round(windowS * 10) / 10,
      };
      ctx.table('heartbeats', [
        { figure: 'devices connected', value: `${figures.devices} of ${devices} (${figures.devices_failed} failed)` },
        { figure: 'heartbeats/s absorbed', value: `${perSecond} (expected ${figures.expected_heartbeats_per_second})` },
        { figure: 'heartbeat → visible in API lag p50 / p99 / max (ms)', value: `${apiPct.p50} / ${apiPct.p99} / ${apiMax} (${apiLags.length} beats of ${sampled.size} devices, ${apiMissed} missed)` },
        { figure: 'heartbeat → liveness KV lag p50 / p99 / max (ms)', value: `${p50} / ${p99} / ${max} (all devices)` },
        { figure: 'of which in the gateway, p50 / p99 (ms, at most)', value: `${handling.p50} / ${handling.p99}` },
        { figure: 'API polls/s (sampled devices)', value: `${figures.api_polls_per_second} (${apiPollErrors} errors)` },
        { figure: 'gateway CPU s (window / since start)', value: `${figures.gateway_cpu_seconds.during_window} / ${figures.gateway_cpu_seconds.since_start}` },
        { figure: 'gateway RSS (MiB)', value: rss },
        { figure: 'registry / API CPU s in window', value: `${figures.registry_cpu_seconds_window} / ${figures.api_cpu_seconds_window}` },
      ]);
      return figures;
    } finally {
      stopPolling();
      for (const p of procs) p.child.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
      // Services stop in reverse order of start: the gateway, then the API, then the registry.
      for (const p of [gateway, apiProc, registryProc]) {
        if (!p) continue;
        p.child.kill('SIGTERM');
        await p.exited;
      }
      await pg.drop();
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(names.inboxStream).catch((e: unknown) => {
        if (!isStreamNotFound(e)) throw e;
      });
      await cleanup(nc, names);
      await nc.close();
    }
  },
};
