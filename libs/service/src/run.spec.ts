import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isConfigError } from '@propeller/config';
import { EXIT_CONFIG, runService, type RunningService, type ServiceContext, type ServiceDefinition, type ServiceIo } from './run';

// In-process runs: no HTTP server (serveHttp: false), no process handlers, exit recorded instead of taken.
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'propeller-service-spec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface FakeProcess {
  io: Partial<ServiceIo>;
  exits: number[];
  stderr: () => string;
  logs: () => Array<Record<string, unknown>>;
}

function fakeProcess(env: Record<string, string> = {}): FakeProcess {
  const exits: number[] = [];
  let err = '';
  let out = '';
  const logDestination = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  });
  return {
    io: { env, cwd: dir, exit: (code) => void exits.push(code), stderr: { write: (t: string) => (err += t) }, logDestination, handleProcessEvents: false },
    exits,
    stderr: () => err,
    logs: () =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const service = (start: (ctx: ServiceContext) => Promise<RunningService>): ServiceDefinition => ({
  name: 'unit',
  defaultMetricsPort: 0,
  serveHttp: false,
  start,
});

describe('runService in-process', () => {
  it('gives start the typed config and a logger, and stops it on shutdown with status 0', async () => {
    const p = fakeProcess({ SCHEDULER_TYPE: 'roundrobin' });
    let seen: string | undefined;
    let stopped = false;
    const handle = await runService(
      service(async (ctx) => {
        seen = ctx.config.scheduler.type;
        ctx.logger.info('hello');
        return { stop: async () => void (stopped = true) };
      }),
      p.io,
    );
    expect(seen).toBe('roundrobin');
    expect(handle.ctx.signal.aborted).toBe(false);
    expect(await handle.shutdown('test')).toBe(0);
    expect(stopped).toBe(true);
    expect(handle.ctx.signal.aborted).toBe(true);
    expect(p.exits).toEqual([0]);
    expect(p.logs().map((l) => l['msg'])).toEqual(['effective configuration', 'hello', 'started', 'stopping', 'stopped']);
  });

  it('reports a failing health check while starting and passes once started', async () => {
    const p = fakeProcess();
    let during: unknown;
    const handle = await runService(
      service(async (ctx) => {
        during = await ctx.health.report();
        return { stop: async () => undefined };
      }),
      p.io,
    );
    expect(during).toEqual({ status: 'fail', checks: { service: { status: 'fail', detail: 'starting' } } });
    expect((await handle.ctx.health.report()).status).toBe('pass');
    await handle.shutdown('test');
  });

  it('exits 1 when stop throws', async () => {
    const p = fakeProcess();
    const handle = await runService(
      service(async () => ({
        stop: async () => {
          throw new Error('drain failed');
        },
      })),
      p.io,
    );
    expect(await handle.shutdown('test')).toBe(1);
    expect(p.logs().find((l) => l['msg'] === 'stop failed')).toMatchObject({ err: { message: 'drain failed' } });
  });

  it('exits 1 after shutdownTimeout when stop hangs', async () => {
    const p = fakeProcess({ PROPELLER_SHUTDOWN_TIMEOUT: '100ms' });
    const handle = await runService(service(async () => ({ stop: () => new Promise<void>(() => undefined) })), p.io);
    expect(await handle.shutdown('test')).toBe(1);
  });

  it('exits 78 with every problem on stderr, before start, on a bad config', async () => {
    const p = fakeProcess({ OFFLINE_THRESHOLD: '5x', SCHEDULER_TYPE: 'fast' });
    const start = jest.fn();
    const err = await runService(service(start), p.io).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    expect(p.exits).toEqual([EXIT_CONFIG]);
    expect(start).not.toHaveBeenCalled();
    expect(p.stderr()).toContain('OFFLINE_THRESHOLD=5x');
    expect(p.stderr()).toContain('SCHEDULER_TYPE=fast');
  });

  it('logs configuration warnings', async () => {
    const p = fakeProcess({ PROPELLER_OFLINE: '1' });
    const handle = await runService(service(async () => ({ stop: async () => undefined })), p.io);
    await handle.shutdown('test');
    expect(p.logs().find((l) => l['msg'] === 'configuration warning')?.['warning']).toContain('PROPELLER_OFLINE');
  });
});
