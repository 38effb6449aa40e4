import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseInbound, shapeStart, topicsFor } from '@propeller/mqtt-protocol';
import mqtt, { type MqttClient } from 'mqtt';
import wabtInit from 'wabt';
import type { BenchContext, Scenario } from '../harness';
import { percentiles, rssMb } from '../stats';

const ROOT = resolve(__dirname, '../../../..');
const BUNDLE = resolve(ROOT, 'apps/proplet/dist/main.cjs');

// `add(i32,i32)->i32` for call overhead; `hog(pages, spins)` grows memory and works a while, for the
// RSS of tasks that really use memory (every page touched, so it is resident).
const WAT = {
  add: '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))',
  hog: `(module (memory 1 1024)
    (func (export "hog") (param $pages i32) (param $spins i32) (result i32) (local $i i32) (local $n i32)
      (drop (memory.grow (local.get $pages)))
      (local.set $n (i32.mul (i32.add (local.get $pages) (i32.const 1)) (i32.const 65536)))
      (block $done (loop $touch
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (local.get $i) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 4096)))
        (br $touch)))
      (local.set $i (i32.const 0))
      (block $end (loop $spin
        (br_if $end (i32.ge_u (local.get $i) (local.get $spins)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $spin)))
      (memory.size)))`,
};

async function compile(source: string): Promise<string> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('bench.wat', source);
  try {
    return Buffer.from(mod.toBinary({}).buffer).toString('base64');
  } finally {
    mod.destroy();
  }
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} expects a non-negative number, got ${args[i + 1]}`);
  return v;
}

async function metricValue(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * `npm run bench -- proplet [--idle 30] [--calls 200]`: the proplet process (the esbuild bundle, as in
 * its image) against the real Mosquitto: idle RSS after `--idle` seconds connected, peak RSS with 10
 * concurrent tasks that each touch 16 MiB, and the start→result time of trivial calls over MQTT.
 */
export const scenario: Scenario = {
  name: 'proplet',
  description: 'proplet idle RSS, RSS with 10 concurrent tasks, Wasm call overhead (args: --idle seconds, --calls n)',
  async run(ctx: BenchContext) {
    const idleSeconds = flag(ctx.args, 'idle', 30);
    const calls = flag(ctx.args, 'calls', 200);
    ctx.log('building the proplet bundle (npm run build -w @propeller/proplet)');
    execFileSync('npm', ['run', 'build', '-w', '@propeller/proplet'], { cwd: ROOT, stdio: 'ignore' });
    const [addB64, hogB64] = await Promise.all([compile(WAT.add), compile(WAT.hog)]);

    const domainId = `bench${randomBytes(4).toString('hex')}`;
    const propletId = `bench-proplet-${randomBytes(3).toString('hex')}`;
    const httpPort = 19090 + Math.floor(Math.random() * 500);
    const channel = { domainId, channelId: 'control', layout: 'messages' as const };
    const topics = topicsFor(channel);
    const plane: MqttClient = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `bench-plane-${domainId}` });
    const results = new Map<string, { at: number; error?: string }>();
    let registered = false;
    plane.on('message', (topic, payload) => {
      const inbound = parseInbound(topic, payload);
      if (!inbound || !inbound.message.ok) return;
      const m = inbound.message.value;
      if (m.kind === 'create' && m.value.proplet_id === propletId) registered = true;
      if (m.kind === 'results') results.set(m.value.task_id, { at: performance.now(), ...(m.value.error ? { error: m.value.error } : {}) });
    });
    await plane.subscribeAsync([topics.create, topics.results], { qos: 1 });

    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['--max-semi-space-size=1', BUNDLE], {
        cwd: resolve(ROOT, 'apps/proplet'),
        env: {
          ...process.env,
          PROPLET_ID: propletId,
          PROPELLER_DOMAIN_ID: domainId,
          PROPELLER_CHANNEL_ID: 'control',
          PROPLET_HTTP_PORT: String(httpPort),
          PROPLET_MAX_TASKS: '10',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const pid = child.pid as number;
      const until = async (cond: () => boolean, what: string, ms: number) => {
        const end = Date.now() + ms;
        while (!cond()) {
          if (Date.now() > end) throw new Error(`proplet bench: ${what} did not happen within ${ms} ms`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until(() => registered, 'registration', 30_000);
      ctx.log(`proplet ${propletId} registered; idling ${idleSeconds}s`);
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      const idleRss = rssMb(pid);
      const heapUsed = await metricValue(httpPort, 'nodejs_heap_size_used_bytes');
      const heapTotal = await metricValue(httpPort, 'nodejs_heap_size_total_bytes');
      const external = await metricValue(httpPort, 'nodejs_external_memory_bytes');
      const mb = (b: number | undefined) => (b === undefined ? null : Math.round((b / 1048576) * 10) / 10);

      const send = (name: string, file: string, inputs: string[]): string => {
        const taskId = randomUUID();
        const shaped = shapeStart({
          task: { id: taskId, name, inputs },
          attempt: 1,
          target: { propletId, dialect: 'wasmtime', perPropletTopics: true, channel },
          module: { file },
        });
        if (!shaped.ok) throw new Error(`cannot shape start: ${shaped.message}`);
        plane.publish(shaped.topic, shaped.payload, { qos: 1 });
        return shaped.wireId;
      };

      // 10 concurrent tasks, each growing 256 pages (16 MiB) and spinning a while.
      let peak = rssMb(pid);
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 25);
      const hogIds = Array.from({ length: 10 }, () => send('hog', hogB64, ['256', '200000000']));
      await until(() => hogIds.every((id) => results.has(id)), '10 concurrent tasks', 120_000);
      clearInterval(sampler);
      const hogErrors = hogIds.map((id) => results.get(id)?.error).filter((e) => e !== undefined);

      // Call overhead: sequential trivial calls, start published → result received.
      const latencies: number[] = [];
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        const id = send('add', addB64, [String(i), '1']);
        await until(() => results.has(id), `add call ${i}`, 10_000);
        latencies.push((results.get(id)?.at ?? t0) - t0);
      }
      const lat = percentiles(latencies, [50, 99]);
      const figures = {
        idle_rss_mb: idleRss,
        idle_seconds: idleSeconds,
        idle_breakdown_mb: { v8_heap_used: mb(heapUsed), v8_heap_total: mb(heapTotal), external: mb(external), rest_native_and_code: heapTotal === undefined ? null : Math.round((idleRss - (mb(heapTotal) ?? 0) - (mb(external) ?? 0)) * 10) / 10 },
        concurrent_tasks: { tasks: 10, each_touches_mb: 16, peak_rss_mb: peak, errors: hogErrors.length },
        call_overhead_ms: { calls, p50: Math.round(lat.p50 * 10) / 10, p99: Math.round(lat.p99 * 10) / 10 },
        goal: 'idle ≤ 80 MB (stretch 60 MB)',
      };
      ctx.table('proplet memory', [
        { measure: `idle RSS after ${idleSeconds}s`, mb: idleRss },
        { measure: '  V8 heap total (used)', mb: `${figures.idle_breakdown_mb.v8_heap_total} (${figures.idle_breakdown_mb.v8_heap_used})` },
        { measure: '  external (buffers)', mb: String(figures.idle_breakdown_mb.external) },
        { measure: '  rest: native code, libraries, stacks', mb: String(figures.idle_breakdown_mb.rest_native_and_code) },
        { measure: 'peak RSS, 10 tasks × 16 MiB', mb: peak },
      ]);
      ctx.table('Wasm call over MQTT (start → result)', [{ calls, p50_ms: figures.call_overhead_ms.p50, p99_ms: figures.call_overhead_ms.p99 }]);
      if (hogErrors.length > 0) ctx.log(`concurrent task errors: ${hogErrors.join('; ')}`);
      return figures;
    } finally {
      child?.kill('SIGTERM');
      await plane.endAsync();
    }
  },
};
