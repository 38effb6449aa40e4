import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { topicsFor } from '@propeller/mqtt-protocol';
import { PlaneClient, waitFor, wat } from './testing';

// The whole proplet process, as `npm start` runs it, against the real Mosquitto.
const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const ROOT = join(__dirname, '..', '..', '..');
const domainId = `t${Math.random().toString(36).slice(2, 10)}`;
const propletId = `e2e-${domainId}`;
const topics = topicsFor({ domainId, channelId: 'control', layout: 'messages' });
const httpPort = 19_000 + Math.floor(Math.random() * 900);

// ~1-2 s of arithmetic: long enough to be running when SIGTERM arrives, well inside the drain timeout.
const SLOW_SUM = `(module (func (export "sum") (param $n i32) (result i64) (local $acc i64)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $n)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
    (br $l)))
  (local.get $acc)))`;

let child: ChildProcess;
let plane: PlaneClient;
let output = '';
let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

beforeAll(async () => {
  plane = await PlaneClient.connect(BROKER, domainId);
  child = spawn(process.execPath, ['--import', 'tsx', 'apps/proplet/src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      MQTT_BROKER: BROKER,
      PROPELLER_DOMAIN_ID: domainId,
      PROPLET_ID: propletId,
      PROPLET_HTTP_PORT: String(httpPort),
      PROPLET_HEARTBEAT_INTERVAL: '500ms',
      PROPLET_DRAIN_TIMEOUT: '20s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  child.on('exit', (code, signal) => (exit = { code, signal }));
  await plane.next('/control/proplet/create', (j) => j['proplet_id'] === propletId, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; proplet output:\n${output}`);
  });
}, 30_000);

afterAll(async () => {
  if (exit === undefined) child?.kill('SIGKILL');
  await plane?.close();
});

describe('proplet process', () => {
  it('serves /health and /metrics', async () => {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => undefined))?.status === 200, '/health to answer 200', 10_000);
    const health = (await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', proplet_id: propletId, mqtt_connected: true });
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^propeller_proplet_tasks_running\{[^}]*\} 0$/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes\{[^}]*\} \d+/m);
  });

  it('on SIGTERM during a task: publishes offline, finishes the task, sends its result, exits 0', async () => {
    const file = Buffer.from(await wat(SLOW_SUM)).toString('base64');
    await plane.publish(topics.startFor(propletId), { id: 'drain-1', name: 'sum', state: 0, file, inputs: ['150000000'], proplet_id: propletId });
    await plane.next('/control/proplet/task_started', (j) => j['task_id'] === 'drain-1');
    child.kill('SIGTERM');
    const offline = await plane.next('/control/proplet/alive', (j) => j['proplet_id'] === propletId && j['status'] === 'offline');
    const result = await plane.next('/control/proplet/results', (j) => j['task_id'] === 'drain-1', 20_000);
    expect(result.json).toEqual({ task_id: 'drain-1', proplet_id: propletId, results: '11250000075000000', attempt: 1 });
    expect(plane.seen.indexOf(offline)).toBeLessThan(plane.seen.indexOf(result));
    await waitFor(() => exit !== undefined, 'the proplet to exit', 10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(output).toContain('"drained":true');
  }, 30_000);
});
