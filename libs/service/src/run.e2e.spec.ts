import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleService, byMsg, spawnNode, waitUntilServing, type SpawnedService } from './testing';

// The fixture is bundled to plain JS once, so each spawn measures the service's own start-up, not a
// TypeScript loader compiling on a shared 2-core machine (production images run built code too).
let dir: string;
let bundle: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'propeller-service-e2e-'));
  bundle = bundleService(resolve(__dirname, '../test/tiny-service.ts'), join(dir, 'tiny-service.cjs'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Run in a directory without config.yaml, on a free port.
const spawnService = (env: Record<string, string>): SpawnedService => spawnNode(bundle, { cwd: dir, env: { METRICS_PORT: '0', ...env } });

async function startedService(env: Record<string, string> = {}): Promise<SpawnedService & { base: string }> {
  const s = spawnService(env);
  return Object.assign(s, { base: await waitUntilServing(s) });
}

describe('runService as a process', () => {
  it('exits non-zero within 2 s on OFFLINE_THRESHOLD=5x, naming the key, the value and the allowed form on stderr', async () => {
    const s = spawnService({ OFFLINE_THRESHOLD: '5x' });
    const { code, ms } = await s.exited;
    expect(code).toBe(78);
    expect(ms).toBeLessThan(2_000);
    expect(s.stderr()).toContain('OFFLINE_THRESHOLD=5x: expected a duration such as 30s, 5m, 1h');
    expect(s.stderr()).toContain('healthMonitor.offlineThreshold');
    const json = JSON.parse(s.stderr().split('\n')[0] ?? '') as { level: string; issues: Array<{ key: string; value: string }> };
    expect(json.level).toBe('fatal');
    expect(json.issues).toEqual([expect.objectContaining({ key: 'healthMonitor.offlineThreshold', value: '5x' })]);
  });

  it('exits non-zero within 2 s on SCHEDULER_TYPE=fast', async () => {
    const s = spawnService({ SCHEDULER_TYPE: 'fast' });
    const { code, ms } = await s.exited;
    expect(code).toBe(78);
    expect(ms).toBeLessThan(2_000);
    expect(s.stderr()).toContain('SCHEDULER_TYPE=fast: expected one of roundrobin, resource-aware, hybrid');
  });

  it('logs its effective configuration with sources, secrets masked, serves /health and /metrics, and stops on SIGTERM', async () => {
    const s = await startedService({ MQTT_PASSWORD: 'hunter2', OFFLINE_THRESHOLD: '2m' });
    const effective = s.logs().find(byMsg('effective configuration'))?.['config'] as Record<string, { value: string; from: string; via?: string }>;
    expect(effective['healthMonitor.offlineThreshold']).toEqual({ value: '2m', from: 'env', via: 'OFFLINE_THRESHOLD' });
    expect(effective['mqtt.password']).toEqual({ value: '****', from: 'env', via: 'MQTT_PASSWORD' });
    expect(effective['scheduler.type']).toEqual({ value: 'hybrid', from: 'default' });
    expect(s.stdout()).not.toContain('hunter2');

    const health = await fetch(`${s.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'pass', checks: { service: { status: 'pass' }, fixture: { status: 'pass' } } });
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    expect(metrics).toMatch(/tiny_started_total\{service="tiny"\} 1/);
    expect(metrics).toContain('process_resident_memory_bytes');
    expect((await fetch(`${s.base}/nope`)).status).toBe(404);

    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(s.logs().map((l) => l['msg'])).toEqual(expect.arrayContaining(['stopping', 'fixture stopped', 'stopped']));
  });

  it('answers 503 with the checks when one is degraded', async () => {
    const s = await startedService({ FIXTURE_DEGRADED: '1' });
    try {
      const res = await fetch(`${s.base}/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'degraded', checks: { fixture: { status: 'degraded', detail: 'fixture says degraded' } } });
    } finally {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
  });

  it('exits 1 when stop does not finish within shutdownTimeout', async () => {
    const s = await startedService({ FIXTURE_MODE: 'hang', PROPELLER_SHUTDOWN_TIMEOUT: '300ms' });
    s.proc.kill('SIGTERM');
    expect((await s.exited).code).toBe(1);
    expect(s.logs().some(byMsg('did not stop in time; exiting anyway'))).toBe(true);
  });

  it('logs an uncaught error and exits 1 instead of dying silently', async () => {
    const s = spawnService({ FIXTURE_MODE: 'crash' });
    expect((await s.exited).code).toBe(1);
    const fatal = s.logs().find(byMsg('uncaught exception'));
    expect(fatal).toMatchObject({ level: 'fatal', err: { message: 'boom from a timer' } });
  });

  it('exits 1 and says why when its metrics port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const s = spawnService({ METRICS_PORT: String(port) });
      expect((await s.exited).code).toBe(1);
      expect(s.stderr()).toContain('EADDRINUSE');
      expect(s.logs().some(byMsg('started'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('exits 1 and says why when start fails', async () => {
    const s = spawnService({ FIXTURE_MODE: 'fail-start' });
    expect((await s.exited).code).toBe(1);
    expect(s.stderr()).toContain('tiny: cannot reach the fixture database');
    expect(s.logs().some(byMsg('start failed'))).toBe(true);
  });
});
