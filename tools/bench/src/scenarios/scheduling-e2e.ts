import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { natsNames } from '@propeller/events';
import { isStreamNotFound } from '@propeller/eventstore';
import { cleanup, connectTest } from '@propeller/eventstore/testing';
// The bench runs the stack exactly as `npm start` does (ADR-free reuse of a sibling tool, not a library
// dependency of an app): the plan and the supervisor are the single definition of "every service a process".
// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/start is a tool, not a runtime dependency
import { localStack, SERVICE_NODE_ARGS, Supervisor, type ProcessSpec } from '@propeller/start';
import type { BenchContext } from '../harness';
import type { SimMode } from '../sim/answer';
import { cpuSeconds, percentiles } from '../stats';

const ROOT = resolve(__dirname, '../../../..');
const SIM = resolve(__dirname, '../sim/proplets.ts');
const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
/** PROTOCOL.md "Examples": add(i32, i32) -> i32, 41 bytes. */
const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';
/** The services of `npm start` the bench runs (the local proplets and the k8s-agent are left out). */
const SERVICES = ['registry', 'scheduler', 'health-monitor', 'mqtt-gateway', 'api'] as const;

/** Tasks per phase whose timeline is read for the scheduled and running times (the other stages use every task). */
const TIMELINE_SAMPLE = 300;
/** Targets of issue 4 for part (b). */
export const TARGET_TASKS_PER_SECOND = 1000;
export const TARGET_P99_MS = 100;

/** Sizes of one end-to-end run; `parseEndToEndArgs` fills the defaults. */
export interface EndToEndOptions {
  mode: SimMode;
  /** Simulated proplets (default 200; issue 4 asks 1,000). */
  proplets: number;
  /** Measured window of each phase in seconds (default 20; issue 4 asks at least 30). */
  seconds: number;
  /** Load before the max-rate window starts, in seconds (default 5). */
  warmupSeconds: number;
  /** The max-rate window also lasts until this many tasks were created (default 0; issue 4 asks 30,000). */
  minTasks: number;
  /** Tasks per `POST /tasks/batch` (default 100; 1 = `POST /tasks`). */
  batch: number;
  /** Create requests in flight in the max-rate phase (default 12: each batch waits ~1 s for its answer, so fewer leave the stack idle part of the time). */
  concurrency: number;
  /** Simulated proplets per simulator process (default 1,000). */
  perProcess: number;
  /** Also run the half-rate phase for latencies (default true). */
  halfRate: boolean;
  /**
   * Create requests a second in the half-rate phase (default 25). The tasks of one request arrive
   * together and each waits for the ones before it at every stage, so fewer, larger requests measure
   * the client's clumping more than the stack's latency.
   */
  halfRequestsPerSecond: number;
  /** Writes a V8 CPU profile of every service and simulator process into this directory (`--profile DIR`). */
  profileDir?: string;
}

const num = (args: readonly string[], name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number, got ${args[i + 1]}`);
  return v;
};

/** Reads `--devices --seconds --warmup --min-tasks --batch --concurrency --per-process --no-half-rate --half-requests-per-second`. */
export function parseEndToEndArgs(args: readonly string[], mode: SimMode): EndToEndOptions {
  const o: EndToEndOptions = {
    mode,
    proplets: num(args, 'devices', 200),
    seconds: num(args, 'seconds', 20),
    warmupSeconds: num(args, 'warmup', 5),
    // Part (c) has no target, and one shared start topic fans every start out to every proplet: a window
    // of 30,000 tasks there takes many minutes, so --min-tasks is part (b)'s (--c-min-tasks for (c)).
    minTasks: mode === 'extension' ? num(args, 'min-tasks', 0) : num(args, 'c-min-tasks', 0),
    batch: num(args, 'batch', 100),
    concurrency: num(args, 'concurrency', 12),
    perProcess: num(args, 'per-process', 1000),
    halfRate: !args.includes('--no-half-rate'),
    halfRequestsPerSecond: num(args, 'half-requests-per-second', 25),
  };
  const profile = args.indexOf('--profile');
  if (profile >= 0) {
    const dir = args[profile + 1];
    if (dir === undefined || dir.startsWith('--')) throw new Error('--profile needs a directory for the .cpuprofile files');
    o.profileDir = resolve(dir);
  }
  if (o.batch < 1 || o.batch > 100 || !Number.isInteger(o.batch)) throw new Error(`--batch must be an integer from 1 to 100 (POST /tasks/batch takes at most 100), got ${o.batch}`);
  if (o.proplets < 1 || o.seconds <= 0 || o.concurrency < 1 || o.perProcess < 1 || o.halfRequestsPerSecond <= 0) {
    throw new Error('--devices, --seconds, --concurrency, --per-process and --half-requests-per-second must be positive');
  }
  return o;
}

// ---------------------------------------------------------------- pure helpers (tested in the spec)

/**
 * Moves every process of a stack onto the given ports: the port of each spec's `readyUrl` is replaced in
 * its URL and in every env value naming it, so the bench's stack never meets a developer's `npm start`.
 */
export function retargetPorts(specs: readonly ProcessSpec[], ports: readonly number[]): ProcessSpec[] {
  return specs.map((spec, i) => {
    const port = ports[i];
    const old = spec.readyUrl === undefined ? undefined : new URL(spec.readyUrl).port;
    if (port === undefined || old === undefined || old === '') return spec;
    const env = Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, v === old ? String(port) : v]));
    const url = new URL(spec.readyUrl as string);
    url.port = String(port);
    return { ...spec, env, readyUrl: url.toString() };
  });
}

/** Tasks per `POST /tasks/batch` for an open-loop rate: about `requestsPerSecond` requests a second, 1 to `maxBatch` tasks each. */
export function batchSizeFor(ratePerSecond: number, maxBatch: number, requestsPerSecond: number): number {
  return Math.max(1, Math.min(maxBatch, Math.round(ratePerSecond / requestsPerSecond)));
}

/** What one line of the simulator says (see sim/proplets.ts). */
export type SimLine =
  | { kind: 'progress'; connected: number; failed: number }
  | { kind: 'done' }
  | { kind: 'start'; wireId: string; at: number }
  | { kind: 'invalid'; count: number; reason: string }
  | { kind: 'error'; message: string }
  | { kind: 'other'; line: string };

/** Parses one line of the simulator's stdout. */
export function parseSimLine(line: string): SimLine {
  if (line === 'done') return { kind: 'done' };
  const [tag, a, b] = line.split(' ');
  if (tag === 's' && a && b) return { kind: 'start', wireId: a, at: Number(b) };
  if (tag === 'c' && a && b) return { kind: 'progress', connected: Number(a), failed: Number(b) };
  if (tag === 'x' && a) return { kind: 'invalid', count: Number(a), reason: line.slice(3 + a.length) };
  if (tag === 'e') return { kind: 'error', message: line.slice(2) };
  return { kind: 'other', line };
}

/** One task as the bench saw it: when it asked, when the API answered, and the read model's times. */
export interface TaskTrace {
  id: string;
  /** Epoch ms the create request was sent (every task of a batch shares it). */
  sentAt: number;
  /** Epoch ms the create request was answered. */
  answeredAt: number;
  /** Epoch ms the start reached the simulated proplet, if it did. */
  deviceAt?: number;
  createdAt?: number;
  scheduledAt?: number;
  runningAt?: number;
  finishedAt?: number;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const stat = (xs: number[]): { p50: number; p99: number; max: number; n: number } => {
  const { p50, p99 } = percentiles(xs, [50, 99]);
  return { p50: round1(p50), p99: round1(p99), max: xs.length ? round1(Math.max(...xs)) : NaN, n: xs.length };
};

/**
 * Where the time of a task goes, stage by stage (ms, p50/p99/max): the create request (sent → the
 * `TaskCreated` time), placement (created → scheduled), dispatch (scheduled → start on the device),
 * the report back (start on the device → running, then → completed) and the create request's own answer.
 * Server times are the events' `occurredAt` (created and finished from the row of every task, scheduled and
 * running from the timelines of a sample), on the same machine's clock as the bench; `n` says how many.
 */
export function stageBreakdown(traces: readonly TaskTrace[]): Record<string, { p50: number; p99: number; max: number; n: number }> {
  const d = (f: (t: TaskTrace) => number | undefined): number[] => traces.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);
  return {
    'create request → TaskCreated': stat(d((t) => diff(t.createdAt, t.sentAt))),
    'TaskCreated → TaskScheduled': stat(d((t) => diff(t.scheduledAt, t.createdAt))),
    'TaskScheduled → start on device': stat(d((t) => diff(t.deviceAt, t.scheduledAt))),
    'start on device → running': stat(d((t) => diff(t.runningAt, t.deviceAt))),
    'start on device → completed': stat(d((t) => diff(t.finishedAt, t.deviceAt))),
    'create → start on device': stat(d((t) => diff(t.deviceAt, t.sentAt))),
    'create → completed': stat(d((t) => diff(t.finishedAt, t.sentAt))),
    'create request answered': stat(d((t) => t.answeredAt - t.sentAt)),
  };
}

/** Tasks finished within `[from, to]` per second of that window. */
export function completedPerSecond(traces: readonly TaskTrace[], from: number, to: number): { count: number; perSecond: number } {
  let count = 0;
  for (const t of traces) if (t.finishedAt !== undefined && t.finishedAt >= from && t.finishedAt <= to) count += 1;
  return { count, perSecond: to > from ? round1((count * 1000) / (to - from)) : NaN };
}

/**
 * Tasks per whole second of the window: created (the create answered) and completed (`finished_at`),
 * to show whether the rate was steady or had stalls.
 */
export function perSecondSeries(traces: readonly TaskTrace[], from: number, to: number): { created: number[]; completed: number[] } {
  const n = Math.max(0, Math.floor((to - from) / 1000));
  const created = new Array<number>(n).fill(0);
  const completed = new Array<number>(n).fill(0);
  const slot = (at: number | undefined): number => (at === undefined || at < from ? -1 : Math.floor((at - from) / 1000));
  for (const t of traces) {
    const c = slot(t.answeredAt);
    if (c >= 0 && c < n) created[c] = (created[c] ?? 0) + 1;
    const f = slot(t.finishedAt);
    if (f >= 0 && f < n) completed[f] = (completed[f] ?? 0) + 1;
  }
  return { created, completed };
}

// ---------------------------------------------------------------- processes

interface Sim {
  child: ChildProcess;
  connected: number;
  failed: number;
  done: boolean;
  invalid: number;
  invalidReason: string;
  errors: string[];
  exited: Promise<void>;
}

function startSim(env: Record<string, string>, onStart: (wireId: string, at: number) => void): Sim {
  const child = spawn(process.execPath, ['--import', 'tsx', SIM], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const sim: Sim = { child, connected: 0, failed: 0, done: false, invalid: 0, invalidReason: '', errors: [], exited: new Promise((r) => child.on('close', () => r())) };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const l = parseSimLine(line);
    switch (l.kind) {
      case 'start':
        onStart(l.wireId, l.at);
        break;
      case 'progress':
        sim.connected = l.connected;
        sim.failed = l.failed;
        break;
      case 'done':
        sim.done = true;
        break;
      case 'invalid':
        sim.invalid = l.count;
        sim.invalidReason = l.reason;
        break;
      case 'error':
        if (sim.errors.length < 5) sim.errors.push(l.message);
        break;
      case 'other':
        break;
      default: {
        const never: never = l;
        throw new Error(`unhandled sim line ${JSON.stringify(never)}`);
      }
    }
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (sim.errors.length < 5) sim.errors.push(line);
  });
  return sim;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, every = 200): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Summed CPU seconds of every process whose `comm` is one of `names` (the shared NATS, Mosquitto, Postgres). */
function sharedCpu(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (comm in out) out[comm] = (out[comm] as number) + cpuSeconds(Number(d));
    } catch {
      // the process ended between the listing and the read
    }
  }
  return out;
}

const SHARED = ['nats-server', 'mosquitto', 'postgres'] as const;

// ---------------------------------------------------------------- REST load

interface Api {
  base: string;
  errors: number;
  firstError: string;
  /** Answers of create requests by HTTP status: 202 means the read model was not there within the read-your-writes timeout. */
  statuses: Record<string, number>;
}

function taskBody(i: number): Record<string, unknown> {
  // Inputs as strings, the shape upstream clients send; the result must come back as String(i + 1).
  return { name: 'add', file: ADD_WASM, inputs: [String(i), '1'], start: true };
}

/** Creates `n` tasks (one request); returns their traces, or none when the API refused. */
async function createTasks(api: Api, first: number, n: number): Promise<TaskTrace[]> {
  const sentAt = Date.now();
  try {
    const single = n === 1;
    const res = await fetch(`${api.base}/tasks${single ? '' : '/batch'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(single ? taskBody(first) : { tasks: Array.from({ length: n }, (_, k) => taskBody(first + k)) }),
    });
    const answeredAt = Date.now();
    api.statuses[res.status] = (api.statuses[res.status] ?? 0) + 1;
    const body = (await res.json()) as { id?: string; location?: string; tasks?: Array<{ id: string }>; task_ids?: string[]; message?: string };
    if (res.status !== 201 && res.status !== 202) throw new Error(`${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    const ids = single
      ? [body.id ?? (res.headers.get('location') ?? body.location ?? '').split('/').pop() ?? '']
      : (body.tasks?.map((t) => t.id) ?? body.task_ids ?? []);
    return ids.map((id) => ({ id, sentAt, answeredAt }));
  } catch (e) {
    api.errors += n;
    if (!api.firstError) api.firstError = e instanceof Error ? e.message : String(e);
    return [];
  }
}

interface ListedTask {
  id: string;
  status: string;
  results: unknown;
  inputs: unknown[];
  created_at: string | null;
  scheduled_at: string | null;
  running_at: string | null;
  finished_at: string | null;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

async function countByStatus(api: Api, status: string): Promise<number> {
  return (await getJson<{ total: number }>(`${api.base}/tasks?status=${status}&limit=1`)).total;
}

/** Every completed task, read page by page from `GET /tasks?status=completed` (the only tasks counted). */
async function listCompleted(api: Api): Promise<ListedTask[]> {
  const out: ListedTask[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await getJson<{ total: number; tasks: ListedTask[] }>(`${api.base}/tasks?status=completed&offset=${offset}&limit=1000`);
    out.push(...page.tasks);
    if (page.tasks.length === 0 || out.length >= page.total) return out;
  }
}

const ms = (iso: string | null): number | undefined => (iso === null ? undefined : Date.parse(iso));

/** Up to `n` items spread evenly over `xs` (first and last included). */
export function spread<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  return Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / Math.max(1, n - 1))] as T);
}

/**
 * Fills `scheduledAt` and `runningAt` of a sample of traces from `GET /tasks/{id}/events` (the row of a
 * finished task keeps only its created and finished times; the timeline keeps every event's time).
 */
async function fillFromTimelines(api: Api, traces: TaskTrace[], sample: number): Promise<void> {
  const picked = spread(traces, sample);
  for (let i = 0; i < picked.length; i += 10) {
    await Promise.all(
      picked.slice(i, i + 10).map(async (t) => {
        const tl = await getJson<{ events: Array<{ type: string; at: string }> }>(`${api.base}/tasks/${t.id}/events`).catch(() => ({ events: [] }));
        for (const e of tl.events) {
          if (e.type === 'TaskScheduled' && t.scheduledAt === undefined) t.scheduledAt = Date.parse(e.at);
          if (e.type === 'TaskRunning' && t.runningAt === undefined) t.runningAt = Date.parse(e.at);
        }
      }),
    );
  }
}

// ---------------------------------------------------------------- the run

/** Figures of one end-to-end run (part (b) or (c)). */
export type EndToEndResult = Record<string, unknown>;

/**
 * Part (b) (`mode: 'extension'`) or (c) (`mode: 'upstream'`) of the scheduling bench: every service of
 * `npm start` as its own process on the bench's own NATS prefix, Postgres schema and MQTT domain, the
 * simulated proplets in their own process(es), tasks created through REST. Phase 1 pushes as fast as the
 * stack answers (closed loop, `concurrency` batches in flight) and counts tasks `GET /tasks` shows
 * completed within the window; phase 2 offers half that rate (open loop) and measures create → start on
 * the device. Everything it started is stopped and everything it created is deleted, failed or not.
 */
export async function runEndToEnd(ctx: BenchContext, o: EndToEndOptions): Promise<EndToEndResult> {
  const tag = randomBytes(4).toString('hex');
  const names = natsNames(`bench${tag}`);
  const schema = `bench_${tag}`;
  const domainId = `bench${tag}`;
  const part = o.mode === 'extension' ? '(b)' : '(c)';
  const logFile = join(tmpdir(), `propeller-bench-scheduling-${o.mode}-${tag}.log`);
  const log = createWriteStream(logFile);
  const tail: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      log.write(text);
      for (const l of text.split('\n')) if (l) tail.push(l.slice(0, 500));
      if (tail.length > 40) tail.splice(0, tail.length - 40);
      cb();
    },
  });

  const loadBefore = loadavg().map(round1);
  const ports = await Promise.all(SERVICES.map(() => freePort()));
  const stack = retargetPorts(
    localStack({ kubeconfig: false }).filter((s) => (SERVICES as readonly string[]).includes(s.name)),
    ports,
  ).map((s) => ({
    ...s,
    env: {
      ...s.env,
      PROPELLER_NATS_URL: NATS_URL,
      PROPELLER_NATS_PREFIX: names.prefix,
      PROPELLER_DATABASE_URL: DATABASE_URL,
      PROPELLER_DATABASE_SCHEMA: schema,
      PROPELLER_DATABASE_POOL_MAX: '2',
      PROPELLER_MQTT_BROKER: BROKER,
      PROPELLER_MQTT_DOMAIN_ID: domainId,
      // Info logs of 1,000 proplets and tens of thousands of tasks would be measured as service CPU.
      PROPELLER_LOG_LEVEL: 'warn',
      ...(s.name === 'mqtt-gateway'
        ? { GATEWAY_REPLICA: `bench-${tag}`, PROPELLER_MQTT_CLIENT_ID: `bench-gw-${tag}`, GATEWAY_SESSION_EXPIRY: '1m' }
        : {}),
    },
  }));
  const apiSpec = stack.find((s) => s.name === 'api');
  const api: Api = { base: new URL(apiSpec?.readyUrl ?? '').origin, errors: 0, firstError: '', statuses: {} };
  const supervisor = new Supervisor(stack, { root: ROOT, out, color: false, stopTimeoutMs: 15_000, ...(o.profileDir ? { nodeArgs: [...SERVICE_NODE_ARGS, '--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] } : {}) });
  const sims: Sim[] = [];
  const deviceAt = new Map<string, number>();
  const nc = await connectTest(`bench-scheduling-${tag}`);
  ctx.log(`scheduling ${part}: prefix ${names.prefix}, schema ${schema}, domain ${domainId}; service logs in ${logFile}`);
  try {
    supervisor.start();
    const ready = await until(async () => {
      const oks = await Promise.all(stack.map((s) => fetch(s.readyUrl as string).then((r) => r.ok, () => false)));
      return oks.every(Boolean);
    }, 120_000, 500);
    if (!ready) throw new Error(`the services were not ready within 120 s; last lines:\n${tail.join('\n')}`);
    ctx.log(`${SERVICES.join(', ')} ready`);

    const processes = Math.ceil(o.proplets / o.perProcess);
    for (let p = 0; p < processes; p++) {
      const count = Math.min(o.perProcess, o.proplets - p * o.perProcess);
      sims.push(
        startSim(
          { SIM_BROKER: BROKER, SIM_DOMAIN: domainId, SIM_PREFIX: 'sim', SIM_COUNT: String(count), SIM_OFFSET: String(p * o.perProcess), SIM_MODE: o.mode, SIM_CHANNEL: o.mode === 'extension' ? 'control' : 'shared' },
          (wireId, at) => {
            if (!deviceAt.has(wireId)) deviceAt.set(wireId, at);
          },
        ),
      );
    }
    await until(() => sims.every((s) => s.done), 180_000);
    const connected = sims.reduce((a, s) => a + s.connected, 0);
    ctx.log(`${connected} of ${o.proplets} simulated proplets connected in ${processes} process(es)${sims.some((s) => s.errors.length) ? `; errors: ${sims.flatMap((s) => s.errors).join(' | ')}` : ''}`);
    let healthy = 0;
    const allHealthy = await until(async () => {
      healthy = (await getJson<{ total: number }>(`${api.base}/proplets?health=healthy&limit=1`)).total;
      return healthy >= connected;
    }, 90_000, 1000);
    ctx.log(`${healthy} proplets healthy${allHealthy ? '' : ' (not all within 90 s; measuring with those)'}`);
    if (healthy === 0) throw new Error('no proplet became healthy');

    // A first task must make the whole round trip, or nothing else is worth measuring.
    let next = 0;
    const probe = await createTasks(api, next++, 1);
    const probeId = probe[0]?.id;
    const probed = probeId !== undefined && (await until(async () => (await getJson<{ status: string }>(`${api.base}/tasks/${probeId}`)).status === 'completed', 30_000, 250));
    if (!probed) {
      const status = probeId === undefined ? `not created (${api.firstError})` : (await getJson<{ status: string }>(`${api.base}/tasks/${probeId}`)).status;
      throw new Error(`a first task did not complete within 30 s (status ${status}; start reached the device: ${probeId !== undefined && deviceAt.has(probeId)}). Is gateway dispatch wired into apps/mqtt-gateway/src/main.ts?`);
    }

    const traces: TaskTrace[] = [...probe];
    const cpuNow = (): Record<string, number> => {
      const c: Record<string, number> = {};
      for (const s of SERVICES) {
        const pid = supervisor.pid(s);
        if (pid !== undefined) c[s] = cpuSeconds(pid);
      }
      c['simulator'] = sims.reduce((a, s) => a + (s.child.pid === undefined || s.child.exitCode !== null ? 0 : cpuSeconds(s.child.pid)), 0);
      c['bench-client'] = cpuSeconds();
      for (const [k, v] of Object.entries(sharedCpu(SHARED))) c[`${k} (shared)`] = v;
      return c;
    };
    const cpuDelta = (a: Record<string, number>, b: Record<string, number>, seconds: number): Record<string, number> =>
      Object.fromEntries(Object.keys(b).map((k) => [k, Math.round(((b[k] ?? 0) - (a[k] ?? 0)) * 100) / 100]).concat([['window_seconds', round1(seconds)]]));

    // Waits until every task created so far is completed, or completions stopped for 30 s.
    const drain = async (): Promise<void> => {
      let last = -1;
      let lastChange = Date.now();
      const wanted = traces.length;
      await until(async () => {
        const done = await countByStatus(api, 'completed');
        if (done !== last) {
          last = done;
          lastChange = Date.now();
        }
        return done >= wanted || Date.now() - lastChange > 30_000;
      }, 600_000, 500);
    };

    // Phase 1: as fast as the stack answers.
    ctx.log(`phase 1: max rate, ${o.concurrency} request(s) of ${o.batch} task(s) in flight, ${o.warmupSeconds} s warm-up + ${o.seconds} s window${o.minTasks ? ` (and at least ${o.minTasks} tasks)` : ''}...`);
    const p1Start = Date.now();
    const windowFrom = p1Start + o.warmupSeconds * 1000;
    let cpuA: Record<string, number> = {};
    let cpuTimer: NodeJS.Timeout | undefined = setTimeout(() => (cpuA = cpuNow()), o.warmupSeconds * 1000);
    const p1Traces: TaskTrace[] = [];
    const hardStop = windowFrom + Math.max(o.seconds * 1000, 600_000);
    const windowTo = await (async () => {
      await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          while ((Date.now() < windowFrom + o.seconds * 1000 || p1Traces.length < o.minTasks) && Date.now() < hardStop) {
            const n = o.batch;
            const got = await createTasks(api, next, n);
            next += n;
            p1Traces.push(...got);
            if (got.length === 0) await new Promise((r) => setTimeout(r, 100));
          }
        }),
      );
      return Date.now();
    })();
    clearTimeout(cpuTimer);
    cpuTimer = undefined;
    const cpuB = cpuNow();
    const p1Cpu = cpuDelta(cpuA, cpuB, (windowTo - windowFrom) / 1000);
    traces.push(...p1Traces);
    ctx.log(`phase 1: ${p1Traces.length} tasks created in ${round1((windowTo - p1Start) / 1000)} s; draining...`);
    await drain();

    // Phase 2: half the measured rate, open loop, for latencies.
    const completed1 = await listCompleted(api);
    const byId = new Map(completed1.map((t) => [t.id, t]));
    const fill = (t: TaskTrace): TaskTrace => {
      const r = byId.get(t.id);
      const at = deviceAt.get(t.id);
      return {
        ...t,
        ...(at === undefined ? {} : { deviceAt: at }),
        ...(r ? { createdAt: ms(r.created_at), scheduledAt: ms(r.scheduled_at), runningAt: ms(r.running_at), finishedAt: ms(r.finished_at) } : {}),
      };
    };
    const p1Filled = p1Traces.map(fill);
    await fillFromTimelines(api, p1Filled, TIMELINE_SAMPLE);
    const max = completedPerSecond(p1Filled, windowFrom, windowTo);
    const series = perSecondSeries(p1Filled, windowFrom, windowTo);
    ctx.log(`phase 1: ${max.count} tasks completed in the ${round1((windowTo - windowFrom) / 1000)} s window → ${max.perSecond} tasks/s`);
    ctx.log(`phase 1: completed per second: ${series.completed.join(' ')}`);

    let half: { rate: number; batch: number; traces: TaskTrace[]; cpu: Record<string, number>; offered: number; skipped: number } | undefined;
    if (o.halfRate && max.perSecond > 0) {
      const rate = Math.max(1, max.perSecond / 2);
      const batch = batchSizeFor(rate, o.batch, o.halfRequestsPerSecond);
      ctx.log(`phase 2: half rate, ${round1(rate)} tasks/s in requests of ${batch}, ${o.seconds} s...`);
      const p2: TaskTrace[] = [];
      const inflight = new Set<Promise<void>>();
      let sent = 0;
      let skipped = 0;
      const c0 = cpuNow();
      const t0 = Date.now();
      while (Date.now() - t0 < o.seconds * 1000) {
        const due = Math.floor((rate * (Date.now() - t0)) / 1000);
        while (due - sent >= batch) {
          sent += batch;
          // An open loop does not wait for answers; past 64 requests in flight the client itself is the bottleneck.
          if (inflight.size >= 64) {
            skipped += batch;
            continue;
          }
          const first = next;
          next += batch;
          const pr: Promise<void> = createTasks(api, first, batch).then((got) => {
            p2.push(...got);
            inflight.delete(pr);
          });
          inflight.add(pr);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(inflight);
      const cpu = cpuDelta(c0, cpuNow(), (Date.now() - t0) / 1000);
      traces.push(...p2);
      await drain();
      half = { rate: round1(rate), batch, traces: p2, cpu, offered: sent, skipped };
    }

    // Read every completed task once more (phase 2's too) and check each result is `add` of its inputs.
    const completed = await listCompleted(api);
    byId.clear();
    for (const t of completed) byId.set(t.id, t);
    const wrong = completed.filter((t) => t.results !== String(Number(t.inputs[0]) + Number(t.inputs[1]))).length;
    const statuses: Record<string, number> = {};
    for (const s of ['pending', 'scheduled', 'running', 'completed', 'failed']) statuses[s] = await countByStatus(api, s);
    // A task that did not finish is a defect to chase: keep the timelines of a few, with the device's view.
    const unfinished: Array<{ id: string; status: string; start_reached_device_at: number | null; events: unknown[] }> = [];
    for (const s of ['pending', 'scheduled', 'running', 'failed']) {
      if ((statuses[s] ?? 0) === 0 || unfinished.length >= 5) continue;
      const page = await getJson<{ tasks: ListedTask[] }>(`${api.base}/tasks?status=${s}&limit=${5 - unfinished.length}`);
      for (const t of page.tasks) {
        const tl = await getJson<{ events: unknown[] }>(`${api.base}/tasks/${t.id}/events`).catch(() => ({ events: [] }));
        unfinished.push({ id: t.id, status: t.status, start_reached_device_at: deviceAt.get(t.id) ?? null, events: tl.events });
      }
    }
    if (unfinished.length > 0) ctx.log(`scheduling ${part}: ${unfinished.length} unfinished task(s), timelines in the results: ${unfinished.map((u) => `${u.id} (${u.status})`).join(', ')}`);
    const p2Filled = half?.traces.map(fill) ?? [];
    await fillFromTimelines(api, p2Filled, TIMELINE_SAMPLE);
    const latencyFrom = half ? p2Filled : p1Filled;
    const c2s = stat(latencyFrom.map((t) => (t.deviceAt === undefined ? NaN : t.deviceAt - t.sentAt)).filter(Number.isFinite));
    const invalid = sims.reduce((a, s) => a + s.invalid, 0);

    const stagesMax = stageBreakdown(p1Filled);
    const stagesHalf = half ? stageBreakdown(p2Filled) : undefined;
    const row = (stage: string, s: { p50: number; p99: number; max: number; n: number }, at: string): Record<string, string | number> => ({ stage, at, 'p50 ms': s.p50, 'p99 ms': s.p99, 'max ms': s.max, tasks: s.n });
    ctx.table(`scheduling ${part}: where the time goes (${o.mode === 'extension' ? 'per-proplet topics, propeller extension' : 'upstream proplets, one shared start topic'})`, [
      ...Object.entries(stagesMax).map(([k, v]) => row(k, v, 'max rate')),
      ...(stagesHalf ? Object.entries(stagesHalf).map(([k, v]) => row(k, v, 'half rate')) : []),
    ]);
    ctx.table(`scheduling ${part}: CPU seconds per process`, Object.keys(p1Cpu).filter((k) => k !== 'window_seconds').map((k) => ({
      process: k,
      [`max rate (${p1Cpu['window_seconds']} s)`]: p1Cpu[k] ?? 0,
      ...(half ? { [`half rate (${half.cpu['window_seconds']} s)`]: half.cpu[k] ?? 0 } : {}),
    })));
    // Machine-independent view of where the time goes: CPU ms each process spent per completed task. On this
    // shared machine the wall-clock figures mostly measure the other engineers' load; this one does not.
    const cpuPerTask: Record<string, number> = {};
    let cpuMsTotal = 0;
    for (const [k, v] of Object.entries(p1Cpu)) {
      if (k === 'window_seconds' || max.count === 0) continue;
      cpuPerTask[k] = Math.round(((v * 1000) / max.count) * 100) / 100;
      if (k !== 'bench-client' && k !== 'simulator' && v > 0) cpuMsTotal += (v * 1000) / max.count;
    }
    const ceiling = cpuMsTotal > 0 ? Math.round((cpus().length * 1000) / cpuMsTotal) : NaN;
    ctx.log(`scheduling ${part}: the services, NATS, Mosquitto and Postgres spent ${round1(cpuMsTotal)} CPU ms per task; with all ${cpus().length} cores to themselves that is at most ${ceiling} tasks/s`);
    const meets = o.mode === 'extension' ? { tasks_per_second: max.perSecond >= TARGET_TASKS_PER_SECOND, p99: c2s.p99 < TARGET_P99_MS } : null;
    ctx.log(
      `scheduling ${part}: ${connected} proplets, ${max.perSecond} tasks/s at max rate; create → start on device p50 ${c2s.p50} ms / p99 ${c2s.p99} ms at ${half ? `half rate (${half.rate} tasks/s)` : 'max rate'}` +
        (meets ? ` — targets ≥ ${TARGET_TASKS_PER_SECOND} tasks/s ${meets.tasks_per_second ? 'met' : 'MISSED'}, p99 < ${TARGET_P99_MS} ms ${meets.p99 ? 'met' : 'MISSED'}` : ''),
    );
    return {
      proplets: connected,
      proplets_healthy: healthy,
      mode: o.mode === 'extension' ? 'per-proplet topics (propeller extension, task_started)' : 'upstream proplets on one shared start topic (no extension)',
      tasks: max.count,
      tasks_per_second: max.perSecond,
      create_to_start_ms: { p50: c2s.p50, p99: c2s.p99, max: c2s.max, samples: c2s.n, at_tasks_per_second: half ? half.rate : max.perSecond },
      cpu_seconds: p1Cpu,
      cpu_ms_per_task: cpuPerTask,
      cpu_bound_ceiling_tasks_per_second: ceiling,
      load_average: { before: loadBefore, after: loadavg().map(round1) },
      cpu_note: 'max-rate window; "(shared)" rows sum every process of that name on the machine (other engineers use them too; Postgres backends that end within the window make its delta low or negative)',
      ...(meets ? { targets: { tasks_per_second: TARGET_TASKS_PER_SECOND, create_to_start_p99_ms: TARGET_P99_MS }, meets_targets: meets } : {}),
      max_rate: {
        window_seconds: round1((windowTo - windowFrom) / 1000),
        tasks_created: p1Traces.length,
        tasks_completed_in_window: max.count,
        per_second: series,
        batch: o.batch,
        concurrency: o.concurrency,
        stages_ms: stagesMax,
      },
      half_rate: half
        ? {
            tasks_per_second_offered: half.rate,
            batch: half.batch,
            tasks_created: half.traces.length,
            tasks_not_sent_client_saturated: half.skipped,
            stages_ms: stagesHalf,
            cpu_seconds: half.cpu,
          }
        : null,
      unfinished_sample: unfinished,
      totals: { created: traces.length, by_status: statuses, wrong_results: wrong, create_errors: api.errors, create_answers_by_status: api.statuses, first_create_error: api.firstError || null, invalid_starts: invalid },
      counted: 'tasks GET /tasks?status=completed lists with finished_at inside the window',
    };
  } finally {
    for (const s of sims) s.child.kill('SIGTERM');
    await Promise.all(sims.map((s) => s.exited));
    await supervisor.stop();
    log.end();
    // Each step on its own, retried: a NATS server busy with the other engineers' work may time out a
    // stream deletion, and a failed step must neither skip the others nor throw away the run's figures.
    await retried(ctx, `delete the NATS streams, KV buckets and object store of prefix ${names.prefix}`, async () => {
      const jsm = await jetstreamManager(nc, { timeout: 30_000 });
      await jsm.streams.delete(names.inboxStream).catch((e: unknown) => {
        if (!isStreamNotFound(e)) throw e;
      });
      await cleanup(nc, names);
    });
    await nc.close();
    await retried(ctx, `drop the Postgres schema ${schema}`, async () => {
      const db = new pg.Client({ connectionString: DATABASE_URL });
      await db.connect();
      try {
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.end();
      }
    });
  }
}

/** Runs a cleanup step up to 4 times; if it still fails, says loudly what was left behind. */
async function retried(ctx: BenchContext, what: string, step: () => Promise<void>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await step();
      return;
    } catch (e) {
      if (i >= 4) {
        ctx.log(`CLEANUP FAILED, left behind: could not ${what}: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 2_000 * i));
    }
  }
}
