import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LEASE_NAMES } from '@propeller/events';
import { Lease, sendCommand } from '@propeller/eventstore';
// The real API with the real registry in-process on this file's own prefix and schema; an app importing
// an app's test wiring is allowed in tests only.
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { openApiWorld, registration, type ApiWorld } from '@propeller/api/testing';
import { EXIT } from './output';
import { runCli } from './program';

// The proplets and sites commands against the real REST API, registry, NATS and Postgres: in-process
// (captured stdout/stderr) for most cases, and as a child process (`node bin/propeller.cjs`) for a few.

const BIN = join(__dirname, '..', 'bin', 'propeller.cjs');

interface Ran {
  code: number;
  out: string;
  err: string;
}

describe('propeller proplets and sites against the real API', () => {
  let w: ApiWorld;
  let judge: Lease;

  /** Runs the CLI in this process against the test API. */
  async function cli(...argv: string[]): Promise<Ran> {
    const out: string[] = [];
    const err: string[] = [];
    // Lines as processIo writes them: each ends with a newline.
    const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
    const code = await runCli(['--api', w.base, ...argv], { io: { out: (s) => out.push(line(s)), err: (s) => err.push(line(s)) }, env: {} });
    return { code, out: out.join(''), err: err.join('') };
  }

  /** Runs `node bin/propeller.cjs` as its own process (async, so the in-process API keeps answering). */
  function cliProcess(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...argv], { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, out: stdout, err: stderr });
      });
    });
  }

  beforeAll(async () => {
    w = await openApiWorld();
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'cli-test-judge' })).start();
    const token = await judge.waitUntilHeld(5_000);
    await w.register(registration('esp-1', { labels: { 'propeller.io/site': 'plant-a' } }));
    await w.register(registration('rpi-1', { deviceType: 'raspberry-pi', dialect: 'wasmtime', capabilities: ['wasm'], labels: { 'propeller.io/site': 'plant-b' } }));
    await sendCommand(w.nc, w.names, 'site', 'pauseEvacuation', {
      meta: { correlationId: randomUUID(), issuedAt: '2026-11-27T13:00:00.000Z', fencingToken: token },
      data: { site: 'plant-b', share: 1, threshold: 0.55, offline: 1, failed: 0, total: 1 },
    });
  });

  afterAll(async () => {
    await judge?.release();
    await w?.close();
  });

  it('lists proplets as JSON exactly as the API pages them', async () => {
    const r = await cli('--json', 'proplets', 'list');
    expect(r).toMatchObject({ code: EXIT.ok, err: '' });
    const page = JSON.parse(r.out);
    expect(page).toMatchObject({ offset: 0, limit: 100, total: 2 });
    expect(page.proplets.map((p: { id: string }) => p.id)).toEqual(['esp-1', 'rpi-1']);
  });

  it('lists proplets as a table for people, with filters passed to the API', async () => {
    const r = await cli('proplets', 'list', '--device-type', 'raspberry-pi');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/ID\s.*TYPE\s.*HEALTH/);
    expect(r.out).toMatch(/rpi-1\s.*external\s.*unknown/);
    expect(r.out).not.toContain('esp-1');
    expect(r.out).toContain('1 of 1 proplets');
  });

  it('shows one proplet', async () => {
    const r = await cli('proplets', 'get', 'esp-1');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/device type\s.*esp32/);
    expect(r.out).toMatch(/channel\s.*propeller\/ch-esp-1 \(messages, per-proplet topics\)/);
  });

  it('labels, cordons and uncordons a proplet, each answer showing the change', async () => {
    const labelled = await cli('--json', 'proplets', 'label', 'rpi-1', 'zone=north', '--cpu', '2');
    expect(labelled.code).toBe(EXIT.ok);
    expect(JSON.parse(labelled.out)).toMatchObject({ id: 'rpi-1', labels: { 'propeller.io/site': 'plant-b', zone: 'north' }, capacity: { cpu: '2' } });

    const cordoned = await cli('--json', 'proplets', 'cordon', 'rpi-1', '--reason', 'maintenance');
    expect(JSON.parse(cordoned.out)).toMatchObject({ id: 'rpi-1', cordoned: true });
    expect((await cli('proplets', 'uncordon', 'rpi-1')).out).toBe('proplet rpi-1 uncordoned\n');
    expect(JSON.parse((await cli('--json', 'proplets', 'get', 'rpi-1')).out).cordoned).toBe(false);
  });

  it('deregisters a proplet, which is then gone', async () => {
    await w.register(registration('gone-1'));
    expect(await cli('proplets', 'delete', 'gone-1', '--reason', 'decommissioned')).toEqual({ code: EXIT.ok, out: 'proplet gone-1 deregistered\n', err: '' });
    expect((await cli('proplets', 'get', 'gone-1')).code).toBe(EXIT.failed);
  });

  it('prints the API error with its code, and exits 1, for an unknown proplet', async () => {
    const r = await cli('proplets', 'get', 'nobody');
    expect(r.code).toBe(EXIT.failed);
    expect(r.out).toBe('');
    expect(r.err).toBe('error: NotFound (HTTP 404): proplet nobody is not registered\n');
  });

  it('prints each field the API rejects with its value and rule', async () => {
    const r = await cli('proplets', 'list', '--health', 'sick');
    expect(r.code).toBe(EXIT.failed);
    expect(r.err).toMatch(/^error: Invalid \(HTTP 400\): /);
    expect(r.err).toContain('\n  field health = "sick": ');
  });

  it('refuses a bad label before calling the API (usage, exit 2)', async () => {
    const r = await cli('proplets', 'label', 'rpi-1', 'no-equals-sign');
    expect(r).toEqual({ code: EXIT.usage, out: '', err: 'error: label: "no-equals-sign" must be key=value with a non-empty key\n' });
  });

  it('shows a paused site and resumes it (issue 6: propeller sites resume)', async () => {
    const before = await cli('sites', 'list');
    expect(before.out).toMatch(/plant-b\s.*PAUSED since 2026-11-27T13:00:00.000Z \(share 100% > 55%\)/);
    expect(before.out).toMatch(/plant-a\s.*active/);

    const resumed = await cli('sites', 'resume', 'plant-b');
    expect(resumed.code).toBe(EXIT.ok);
    expect(resumed.out).toMatch(/^site plant-b: evacuation active \(resumed by operator at /);
    const after = JSON.parse((await cli('--json', 'sites', 'list')).out);
    expect(after.sites.find((s: { site: string }) => s.site === 'plant-b').evacuation).toMatchObject({ paused: false, resumed_by: 'operator' });
  });

  describe('as a process (node bin/propeller.cjs)', () => {
    it('answers --json on stdout with exit 0, the API taken from PROPELLER_API', async () => {
      const r = await cliProcess(['--json', 'proplets', 'get', 'esp-1'], { PROPELLER_API: w.base });
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ id: 'esp-1', type: 'external', device_type: 'esp32' });
    });

    it('exits 1 with the API error on stderr', async () => {
      const r = await cliProcess(['--api', w.base, 'proplets', 'cordon', 'nobody']);
      expect(r).toMatchObject({ code: 1, out: '' });
      expect(r.err).toContain('error: NotFound (HTTP 404)');
    });

    it('exits 3 naming the address and npm start when nothing listens there', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const r = await cliProcess(['--api', `http://127.0.0.1:${port}`, 'proplets', 'list']);
      expect(r.code).toBe(3);
      expect(r.err).toContain(`cannot reach the Propeller API at http://127.0.0.1:${port} (connection refused)`);
      expect(r.err).toContain('npm start');
    });

    it('exits 2 on an unknown command', async () => {
      const r = await cliProcess(['--api', w.base, 'proplets', 'explode']);
      expect(r.code).toBe(2);
      expect(r.err).toContain("unknown command 'explode'");
    });
  });
});
