import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { LEASE_NAMES } from '@propeller/events';
import { currentToken, sendCommand } from '@propeller/eventstore';
import { waitFor } from '@propeller/eventstore/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { TEST_BROKER } from '@propeller/mqtt-gateway/testing';
// The gateway's dispatch world: the API's tasks world (API, registry, scheduler) plus the real gateway and
// its dispatcher, in-process on one prefix and schema and a fresh MQTT domain. Neither world is exported
// from a package entry yet, so it is imported by path (test wiring only).
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { openDispatchWorld, type DispatchWorld } from '../../mqtt-gateway/src/dispatch/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import type { TasksWorld } from '../../api/src/testing/tasks-world';

// `npx propeller run examples/add.wat --inputs 2,3` end to end, with nothing standing in: the CLI as a
// process, the real API, registry and scheduler (in-process, own NATS prefix and Postgres schema), the
// real gateway and its dispatcher on Mosquitto (own MQTT domain), and the real proplet agent as a process
// running the Wasm.
// Only the health verdict is given by the test, as the health judge (the lease the tasks world holds).

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(__dirname, '..', 'bin', 'propeller.cjs');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('propeller run on a real proplet', () => {
  let d: DispatchWorld;
  let w: TasksWorld;
  let proplet: ChildProcess;
  let propletOutput = '';
  let dir: string;
  const propletId = `cli-e2e-${randomBytes(3).toString('hex')}`;

  function cliProcess(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, '--api', w.base, ...argv], { cwd: ROOT, timeout: 25_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out: stdout, err: stderr });
      });
    });
  }

  beforeAll(async () => {
    d = await openDispatchWorld();
    w = d.w;
    const domainId = d.domainId;
    proplet = spawn(process.execPath, ['--import', 'tsx', 'apps/proplet/src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        MQTT_BROKER: TEST_BROKER,
        PROPELLER_DOMAIN_ID: domainId,
        PROPLET_ID: propletId,
        PROPLET_TYPE: 'k8s',
        PROPLET_HTTP_PORT: String(await freePort()),
        PROPLET_HEARTBEAT_INTERVAL: '1s',
        PROPLET_DRAIN_TIMEOUT: '2s',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proplet.stdout?.on('data', (d: Buffer) => (propletOutput += d.toString()));
    proplet.stderr?.on('data', (d: Buffer) => (propletOutput += d.toString()));
    await waitFor(async () => (await w.http('GET', `/proplets/${propletId}`)).status === 200, `proplet ${propletId} registered through the gateway`, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}; proplet output:\n${propletOutput}`);
    });
    // The test is the health judge here (the tasks world holds the judge's lease): the proplet is heard, so healthy.
    const token = await currentToken(await new Kvm(w.nc).open(w.names.kv.leases), LEASE_NAMES.healthJudge);
    await sendCommand(w.nc, w.names, 'proplet', 'changeHealth', {
      meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString(), fencingToken: token },
      data: { propletId, to: 'healthy', reason: 'heartbeats arrive', evidence: { source: 'heartbeat' } },
    });
    await waitFor(async () => (await w.http('GET', `/proplets/${propletId}`)).body?.health === 'healthy', `proplet ${propletId} healthy`);
    dir = await mkdtemp(join(tmpdir(), 'propeller-cli-e2e-'));
  }, 60_000);

  afterAll(async () => {
    if (proplet !== undefined && proplet.exitCode === null) {
      const exited = new Promise((resolve) => proplet.once('exit', resolve));
      proplet.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
      if (proplet.exitCode === null) proplet.kill('SIGKILL');
    }
    await d?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('npx propeller run examples/add.wat --inputs 2,3 prints 5', async () => {
    const r = await cliProcess(['run', 'examples/add.wat', '--inputs', '2,3', '--wait', '20s']);
    expect(r.err).toContain(`completed on ${propletId}`);
    expect(r).toMatchObject({ code: 0, out: '5\n' });
  }, 30_000);

  it('a module that traps on the proplet exits 1 with the proplet error', async () => {
    await writeFile(join(dir, 'trap.wat'), '(module (func (export "trap") (result i32) unreachable))');
    const r = await cliProcess(['run', join(dir, 'trap.wat'), '--wait', '20s']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`error: task [0-9a-f-]{36} failed on ${propletId}: .*unreachable`));
  }, 30_000);
});
