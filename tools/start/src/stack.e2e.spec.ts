import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { TEST_DATABASE_URL, testDb, testSchema } from '@propeller/projections/testing';
import { PORT_ORDER, stackPorts, type StackPorts } from './plan';

// `npm start` end to end: the stack started exactly as `npm start` starts it (its main as a process,
// every service and both proplets as supervised children), isolated by its own NATS prefix, Postgres
// schema, MQTT domain, proplet ids, gateway session and ports. Every example runs through the CLI as a
// process on both proplets; then the scheduler is SIGKILLed under the supervisor, and finally the stack is
// stopped the way Ctrl-C stops it. Nothing stands in for anything.

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = 'tools/start/src/main.ts';
const CLI = join(ROOT, 'apps', 'cli', 'bin', 'propeller.cjs');

/** Nine consecutive free ports (the stack's `PROPELLER_START_PORT_BASE` block), checked by binding each. */
async function freePortBlock(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let tries = 0; tries < 20; tries++) {
    const base = randomInt(20_000, 60_000);
    const all = await Promise.all(PORT_ORDER.map((_, i) => free(base + i)));
    if (all.every(Boolean)) return base;
  }
  throw new Error('no block of free ports found');
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `npm start`'s entry as its own process group, as a terminal runs a foreground job. */
function startStack(env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => text, exited };
}

/** The CLI as a process: `node apps/cli/bin/propeller.cjs … --api <url>`. */
function cli(api: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--api', api, ...argv], { cwd: ROOT, timeout: 40_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out: stdout, err: stderr });
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every `<name> started (pid N)` line the supervisor printed, in order. */
function launches(output: string): { name: string; pid: number }[] {
  return [...output.matchAll(/\| (\S+) started \(pid (\d+)\)/g)].map((m) => ({ name: m[1] as string, pid: Number(m[2]) }));
}

/** Each example of `examples/` with how the CLI runs it and what it must answer (examples/README.md). */
const EXAMPLES: { file: string; args: string[]; result: string }[] = [
  { file: 'examples/add.wat', args: ['--inputs', '2,3'], result: '5' },
  // Exported as `main` for ESP32 targets; a wasmtime-dialect proplet calls the named export just as well.
  { file: 'examples/add-main.wat', args: ['--inputs', '2,3'], result: '5' },
  { file: 'examples/fib.wat', args: ['--inputs', '90'], result: '2880067194370816120' },
  { file: 'examples/sensor-average.wat', args: ['--inputs', '21.5,22,NaN,23.1'], result: '22.2' },
  { file: 'examples/hello-wasi.wat', args: ['--arg', 'Propeller'], result: 'Hello, Propeller!' },
];

describe('npm start: the whole stack on one machine', () => {
  const names = testNames();
  const schema = testSchema('start');
  const tag = randomBytes(3).toString('hex');
  const domainId = `t${tag}`;
  const proplets = { k8s: `e2e-${tag}-k8s-proplet`, rpi: `e2e-${tag}-rpi-proplet` };
  let ports: StackPorts;
  let api: string;
  let stack: Started | undefined;

  beforeAll(async () => {
    const base = await freePortBlock();
    ports = stackPorts({ base });
    stack = startStack({
      ...process.env,
      PROPELLER_NATS_PREFIX: names.prefix,
      DATABASE_URL: TEST_DATABASE_URL,
      PROPELLER_DATABASE_SCHEMA: schema,
      DATABASE_POOL_MAX: '2',
      PROPELLER_DOMAIN_ID: domainId,
      PROPELLER_START_PORT_BASE: String(base),
      PROPELLER_START_PROPLET_PREFIX: `e2e-${tag}`,
      // The gateway's persistent MQTT session is named after its replica: its own name, gone soon after the test.
      GATEWAY_REPLICA: `e2e-${tag}`,
      GATEWAY_SESSION_EXPIRY: '30s',
      // A SIGKILLed scheduler leaves its leases behind; a short TTL lets the restarted one take them back sooner.
      PROPELLER_NATS_LEASE_TTL: '3s',
      PROPLET_HEARTBEAT_INTERVAL: '2s',
      PROPLET_DRAIN_TIMEOUT: '5s',
      LOG_LEVEL: 'warn',
      // The k8s-agent runs only with a kubeconfig and needs a cluster, which this machine lacks: none here.
      KUBECONFIG: join(ROOT, 'tmp', 'no-kubeconfig'),
    });
    const s = stack;
    await waitFor(() => /Propeller is ready\. API: /.test(s.output()) || s.child.exitCode !== null, 'the ready line', 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; output:\n${s.output()}`);
    });
    const ready = /Propeller is ready\. API: (\S+)/.exec(s.output());
    if (!ready) throw new Error(`npm start ended before it was ready; output:\n${s.output()}`);
    api = ready[1] as string;
    // Placement takes healthy proplets only; the health monitor judges them on their first heartbeats.
    for (const id of Object.values(proplets)) {
      await waitFor(
        async () => ((await (await fetch(`${api}/proplets/${id}`)).json()) as { health?: string }).health === 'healthy',
        `proplet ${id} healthy`,
        30_000,
      );
    }
  }, 75_000);

  afterAll(async () => {
    if (stack !== undefined && stack.child.exitCode === null && stack.child.signalCode === null) {
      // A failed test left it running: stop it as Ctrl-C would, and kill what is left after a while.
      const pids = launches(stack.output()).map((l) => l.pid);
      process.kill(-(stack.child.pid as number), 'SIGINT');
      await Promise.race([stack.exited, new Promise((r) => setTimeout(r, 20_000).unref())]);
      for (const pid of [stack.child.pid as number, ...pids]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    const nc = await connectTest('start-e2e-cleanup');
    try {
      await cleanup(nc, names);
      await (await jetstreamManager(nc)).streams.delete(names.inboxStream).catch(() => undefined);
    } finally {
      await nc.close();
    }
    await testDb({ schema, poolMax: 1 }).drop();
  }, 40_000);

  it('uses its own block of ports for every process, the API included', () => {
    expect(api).toBe(`http://127.0.0.1:${ports.api}`);
    const output = stack?.output() ?? '';
    const names = launches(output).map((l) => l.name);
    // The services start first, in plan order; the two proplets wait for them and start together,
    // so their relative order is not fixed.
    expect(names.slice(0, 5)).toEqual(['registry', 'scheduler', 'health-monitor', 'mqtt-gateway', 'api']);
    expect([...names.slice(5)].sort()).toEqual(['proplet-k8s', 'proplet-rpi']);
  });

  it('registers both proplets as they describe themselves (their create reached the gateway)', async () => {
    const get = async (id: string) => (await (await fetch(`${api}/proplets/${id}`)).json()) as Record<string, unknown>;
    const [k8s, rpi] = [await get(proplets.k8s), await get(proplets.rpi)];
    // The first heartbeat (QoS 0, the gateway's heartbeat connection) can overtake the `create` (QoS 1,
    // the persistent session) and register the proplet with the default type; the device's `create`
    // then corrects the type (a `PropletUpdated`), so the type is awaited rather than read once.
    const deadline = Date.now() + 10_000;
    let k8sType = k8s['type'];
    while (k8sType !== 'k8s' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      k8sType = (await get(proplets.k8s))['type'];
    }
    expect(k8sType).toBe('k8s');
    expect(k8s).toMatchObject({ device_type: 'linux', capabilities: ['wasm', 'wasi'], extension_version: 1, channel: { domain_id: domainId, per_proplet_topics: true } });
    expect(rpi).toMatchObject({ type: 'external', device_type: 'raspberry-pi', capabilities: ['wasm', 'wasi', 'sensor'], extension_version: 1, channel: { domain_id: domainId, per_proplet_topics: true } });
  });

  it.each([
    ['the k8s proplet', 'k8s' as const],
    ['the Raspberry Pi proplet', 'rpi' as const],
  ])('runs every example through the CLI on %s', async (_, which) => {
    const propletId = proplets[which];
    const runs = await Promise.all(EXAMPLES.map((e) => cli(api, ['run', e.file, ...e.args, '--proplet', propletId, '--wait', '30s'])));
    const got = Object.fromEntries(runs.map((r, i) => [EXAMPLES[i]?.file, { code: r.code, result: r.out.replace(/\n+$/, ''), on: r.err.includes(`completed on ${propletId}`) }]));
    const want = Object.fromEntries(EXAMPLES.map((e) => [e.file, { code: 0, result: e.result, on: true }]));
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      // Say what the CLI said (the waiting reason, the error) next to the mismatch.
      console.error(runs.map((r, i) => `${EXAMPLES[i]?.file}: exit ${r.code}\n${r.err}`).join('\n'));
    }
    expect(got).toEqual(want);
  }, 45_000);

  it('shows a SIGKILLed scheduler, restarts it, and a later task completes', async () => {
    const s = stack as Started;
    const before = launches(s.output()).filter((l) => l.name === 'scheduler');
    expect(before).toHaveLength(1);
    const old = (before[0] as { pid: number }).pid;
    process.kill(old, 'SIGKILL');
    await waitFor(() => launches(s.output()).filter((l) => l.name === 'scheduler').length === 2, 'the scheduler restarted', 15_000);
    expect(s.output()).toMatch(/\| scheduler exited \(SIGKILL\) after [\d.]+s; restarting in 1s/);
    const restarted = (launches(s.output()).filter((l) => l.name === 'scheduler')[1] as { pid: number }).pid;
    expect(restarted).not.toBe(old);
    expect(alive(old)).toBe(false);
    // Commands reach the scheduler once it serves them again; its /health says when.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.scheduler}/health`).catch(() => undefined))?.status === 200, 'the restarted scheduler healthy', 20_000);
    const r = await cli(api, ['run', 'examples/add.wat', '--inputs', '40,2', '--proplet', proplets.rpi, '--wait', '30s']);
    expect({ code: r.code, out: r.out, err: r.code === 0 ? '' : r.err }).toEqual({ code: 0, out: '42\n', err: '' });
    expect(alive(restarted)).toBe(true);
  }, 45_000);

  it('stops every process cleanly on Ctrl-C (SIGINT to the foreground process group)', async () => {
    const s = stack as Started;
    const pids = launches(s.output()).map((l) => l.pid);
    const mark = s.output().length;
    process.kill(-(s.child.pid as number), 'SIGINT');
    const { code } = await s.exited;
    expect(code).toBe(0);
    const tail = s.output().slice(mark);
    expect(tail).toMatch(/SIGINT: stopping every process/);
    expect(tail).toMatch(/\| stopped/);
    // Each service stopped once, gracefully: none was signalled twice (terminal and supervisor).
    expect(tail).not.toMatch(/second signal/);
    expect(pids.filter(alive)).toEqual([]);
  }, 30_000);
});

describe('npm start without NATS', () => {
  it('exits non-zero naming NATS and its address', async () => {
    const s = startStack({ ...process.env, NATS_URL: 'nats://127.0.0.1:1', PROPELLER_START_PORT_BASE: String(await freePortBlock()) });
    const { code } = await s.exited;
    expect(code).toBe(1);
    expect(s.output()).toMatch(/NATS does not answer at nats:\/\/127\.0\.0\.1:1;.*docker compose up -d nats/);
    // Nothing was started.
    expect(launches(s.output())).toEqual([]);
  }, 20_000);
});
