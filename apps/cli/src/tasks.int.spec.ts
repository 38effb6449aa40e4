import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { publishDeadLetter, replayDeadLetter } from '@propeller/eventstore';
import { testEnvelope, waitFor } from '@propeller/eventstore/testing';
import type { StoredEnvelope } from '@propeller/events';
// The admin responder, wired in the tests as the owning services wire it.
import { serveAdminRequests } from '@propeller/eventstore';
// The real API, registry and scheduler in-process on this file's own prefix and schema. The API's tasks
// world is not exported from `@propeller/api/testing` yet, so it is imported by path (test wiring only).
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { openTasksWorld, type TasksWorld } from '../../api/src/testing/tasks-world';
import { EXIT } from './output';
import { runCli } from './program';

// The tasks, run and admin commands against the real REST API, registry and scheduler (NATS, Postgres).
//
// The device side is a STAND-IN here, so these tests exercise the CLI and the API without MQTT:
// `completeScheduled` plays what the gateway reports for a proplet (`task.recordDispatched`, then
// `task.recordResult` for the attempt's wire id) through the scheduler's real commands. It does not run
// Wasm: it answers the sum of the inputs for `add` and a trap for `boom`, which is what a proplet answers
// for these two modules. run.e2e.spec.ts runs the real gateway, dispatcher and proplet instead.

const BIN = join(__dirname, '..', 'bin', 'propeller.cjs');
const ADD_WAT = ';; add(a, b)\n(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))\n';
const BOOM_WAT = '(module (func (export "boom") (result i32) unreachable))\n';

interface Ran {
  code: number;
  out: string;
  err: string;
}
type Task = Record<string, unknown>;

describe('propeller tasks, run and admin against the real API and scheduler', () => {
  let w: TasksWorld;
  let dir: string;
  let standIn: { stop(): void; done: Promise<void>; errors: unknown[] };

  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  async function cli(...argv: string[]): Promise<Ran> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['--api', w.base, ...argv], { io: { out: (s) => out.push(line(s)), err: (s) => err.push(line(s)) }, env: {}, pollMs: 50 });
    return { code, out: out.join(''), err: err.join('') };
  }
  function cliProcess(argv: string[]): Promise<Ran> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, '--api', w.base, ...argv], { timeout: 25_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, out: stdout, err: stderr });
      });
    });
  }
  const getTask = async (id: string): Promise<Task> => (await w.http('GET', `/tasks/${id}`)).body as Task;

  /** The gateway + proplet stand-in: every scheduled task is dispatched and answered once. */
  function completeScheduled(): { stop(): void; done: Promise<void>; errors: unknown[] } {
    let running = true;
    const answered = new Set<string>();
    const errors: unknown[] = [];
    const done = (async () => {
      while (running) {
        try {
          const page = (await w.http('GET', '/tasks?status=scheduled&status=running&limit=1000')).body as { tasks?: Task[] };
          for (const t of page.tasks ?? []) {
            const wireId = String(t['wire_id']);
            if (answered.has(wireId)) continue;
            const taskId = String(t['id']);
            const propletId = String(t['proplet_id']);
            // The broker accepted the start (an upstream proplet reports no task_started): running.
            if (t['status'] === 'scheduled') await w.command('task.recordDispatched', { taskId, wireId, propletId });
            const inputs = (t['inputs'] as Array<string | number>).map(Number);
            const outcome = t['function_name'] === 'boom' ? { error: 'wasm trap: unreachable executed' } : { results: String(inputs.reduce((a, b) => a + b, 0)) };
            await w.command('task.recordResult', { taskId, wireId, propletId, ...outcome });
            answered.add(wireId);
          }
        } catch (e) {
          // A busy machine can make one round fail (a command timing out): the next round retries, as a gateway would.
          errors.push(e);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return { stop: () => void (running = false), done, errors };
  }

  beforeAll(async () => {
    w = await openTasksWorld();
    await w.healthyProplet('k8s-1');
    dir = await mkdtemp(join(tmpdir(), 'propeller-cli-tasks-'));
    await writeFile(join(dir, 'add.wat'), ADD_WAT);
    await writeFile(join(dir, 'boom.wat'), BOOM_WAT);
    standIn = completeScheduled();
  });

  afterAll(async () => {
    standIn?.stop();
    await standIn?.done.catch(() => undefined);
    await w?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  describe('propeller run', () => {
    it('compiles the .wat, runs its only export and prints the result alone on stdout, progress on stderr', async () => {
      const r = await cli('run', join(dir, 'add.wat'), '--inputs', '2,3', '--wait', '15s');
      expect(r.err).not.toContain('error');
      expect(r.code).toBe(EXIT.ok);
      expect(r.out).toBe('5\n');
      const id = /task ([0-9a-f-]{36}): created \(add of add\.wat, 41 bytes\)/.exec(r.err)?.[1] as string;
      expect(id).toBeDefined();
      expect(r.err).toContain(`task ${id}: completed on k8s-1`);
      expect(await getTask(id)).toMatchObject({ name: 'add', function_name: 'add', inputs: [2, 3], status: 'completed', results: '5', module: { size: 41, source: 'inline' } });
    });

    it('exits 1 with the error when the task fails, printing nothing on stdout', async () => {
      const r = await cli('run', join(dir, 'boom.wat'), '--wait', '15s');
      expect(r.code).toBe(EXIT.failed);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/error: task [0-9a-f-]{36} failed on k8s-1: wasm trap: unreachable executed\n$/);
    });

    it('prints the whole finished task with --json', async () => {
      const r = await cli('--json', 'run', join(dir, 'add.wat'), '--inputs', '40,2', '--timeout', '30s', '--max-attempts', '2', '--wait', '15s');
      expect(r.code).toBe(EXIT.ok);
      expect(JSON.parse(r.out)).toMatchObject({ status: 'completed', state: 3, results: '42', timeout_ms: 30_000, max_attempts: 2, proplet_id: 'k8s-1' });
    });

    it('shows why a task waits and gives up after --wait, exiting 1', async () => {
      const r = await cli('run', join(dir, 'add.wat'), '--inputs', '1,1', '--capability', 'gpu', '--wait', '1500ms');
      expect(r.code).toBe(EXIT.failed);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/: pending: waiting, .*gpu/);
      expect(r.err).toMatch(/error: gave up waiting: task [0-9a-f-]{36} is still pending/);
    });

    it('on Ctrl-C stops waiting with exit 130 and says how to stop the task, which goes on', async () => {
      const interrupt = new AbortController();
      const err: string[] = [];
      const running = runCli(['--api', w.base, 'run', join(dir, 'add.wat'), '--inputs', '1,1', '--capability', 'gpu'], {
        io: { out: () => undefined, err: (s) => void err.push(s) },
        env: {},
        pollMs: 50,
        interrupt: interrupt.signal,
      });
      await waitFor(() => err.some((l) => l.includes('pending: waiting')), 'the waiting reason');
      interrupt.abort();
      expect(await running).toBe(EXIT.interrupted);
      const id = /task ([0-9a-f-]{36}): created/.exec(err.join('\n'))?.[1] as string;
      expect(err.at(-1)).toBe(`interrupted: task ${id} goes on (pending); \`propeller tasks get ${id}\` shows it, \`propeller tasks stop ${id}\` stops it`);
      expect((await getTask(id))['status']).toBe('pending');
    });

    it('refuses a module with several exports without --function, listing them, before calling the API', async () => {
      await writeFile(join(dir, 'two.wat'), '(module (func (export "a")) (func (export "b")))');
      const before = (await w.http('GET', '/tasks')).body.total as number;
      const r = await cli('run', join(dir, 'two.wat'));
      expect(r).toEqual({ code: EXIT.usage, out: '', err: 'error: two.wat exports several functions (a, b): choose one with --function\n' });
      expect((await w.http('GET', '/tasks')).body.total).toBe(before);
    });

    it('works as a process: `node bin/propeller.cjs run add.wat --inputs 2,3` prints 5 and exits 0; a failure exits 1', async () => {
      const ok = await cliProcess(['run', join(dir, 'add.wat'), '--inputs', '2,3', '--wait', '10s']);
      expect(ok.out).toBe('5\n');
      expect(ok.code).toBe(0);
      const failed = await cliProcess(['run', join(dir, 'boom.wat'), '--wait', '10s']);
      expect(failed.code).toBe(1);
      expect(failed.out).toBe('');
      expect(failed.err).toContain('unreachable executed');
    });
  });

  describe('propeller tasks', () => {
    it('creates, lists, starts, and reads the results and timeline of a task', async () => {
      const created = await cli('--json', 'tasks', 'create', 'add', join(dir, 'add.wat'), '--inputs', '1,2', '--label', 'team=edge');
      expect(created.code).toBe(EXIT.ok);
      const task = JSON.parse(created.out) as Task;
      expect(task).toMatchObject({ name: 'add', status: 'created', state: 0, inputs: [1, 2], labels: { team: 'edge' } });
      const id = String(task['id']);

      const listed = await cli('tasks', 'list', '--status', 'created');
      expect(listed.out).toMatch(new RegExp(`${id}\\s.*add\\s.*created`));

      expect((await cli('tasks', 'start', id)).code).toBe(EXIT.ok);
      // The stand-in completes it once it is scheduled.
      for (let i = 0; i < 200 && (await getTask(id))['status'] !== 'completed'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await cli('tasks', 'results', id)).toEqual({ code: EXIT.ok, out: '3\n', err: '' });
      expect(JSON.parse((await cli('--json', 'tasks', 'results', id)).out)).toMatchObject({ task_id: id, status: 'completed', results: '3', proplet_id: 'k8s-1' });

      const events = await cli('tasks', 'events', id);
      for (const type of ['TaskCreated', 'TaskStarted', 'TaskScheduled', 'TaskCompleted']) expect(events.out).toContain(type);
      const got = await cli('tasks', 'get', id);
      expect(got.out).toMatch(/status\s.*completed \(state 3\)/);
      expect(got.out).toMatch(/results\s.*3/);
    });

    it('stops a waiting task and deletes it', async () => {
      const created = JSON.parse((await cli('--json', 'tasks', 'create', 'add', join(dir, 'add.wat'), '--proplet', 'not-here', '--start')).out) as Task;
      const id = String(created['id']);
      expect(created['status']).toBe('pending');
      expect(await cli('tasks', 'stop', id, '--reason', 'no longer needed')).toEqual({ code: EXIT.ok, out: `task ${id} stopped\n`, err: '' });
      expect(await cli('tasks', 'delete', id)).toEqual({ code: EXIT.ok, out: `task ${id} deleted\n`, err: '' });
      const gone = await cli('tasks', 'get', id);
      expect(gone.code).toBe(EXIT.failed);
      expect(gone.err).toContain('error: NotFound (HTTP 404)');
    });

    it('a task that has no result yet is an error for scripts (exit 1)', async () => {
      const created = JSON.parse((await cli('--json', 'tasks', 'create', 'add', join(dir, 'add.wat'))).out) as Task;
      const r = await cli('tasks', 'results', String(created['id']));
      expect(r).toEqual({ code: EXIT.failed, out: '', err: `error: task ${String(created['id'])} has no result yet (status created)\n` });
    });

    it('prints the fields the API refuses with their value and rule', async () => {
      const r = await cli('tasks', 'create', 'add', join(dir, 'add.wat'), '--cpu', 'lots');
      expect(r.code).toBe(EXIT.failed);
      expect(r.err).toMatch(/^error: Invalid \(HTTP 400\): /);
      expect(r.err).toContain('\n  field resource_requirements.cpu = "lots": ');
    });

    it('checks the export exists before uploading', async () => {
      const r = await cli('tasks', 'create', 'mul', join(dir, 'add.wat'));
      expect(r).toEqual({ code: EXIT.usage, out: '', err: 'error: add.wat exports no function "mul" (it exports: add)\n' });
    });
  });

  describe('propeller admin', () => {
    it('lists dead letters and replays one through its consumer', async () => {
      const consumer = 'cli-test-reactor';
      const envelope = testEnvelope('task', randomUUID(), { type: 'TaskCreated' }) as StoredEnvelope;
      const dlqSeq = await publishDeadLetter(jetstream(w.nc), w.names, {
        consumer,
        subject: `${w.names.prefix}.events.task.${envelope.aggregateId}`,
        seq: 4242,
        type: 'TaskCreated',
        envelope,
        error: { code: 'Internal', message: 'the reactor broke' },
        attempts: 5,
        deadAt: '2026-11-27T13:00:00.000Z',
      });
      const list = await cli('admin', 'dlq', 'list');
      expect(list.out).toMatch(new RegExp(`${dlqSeq}\\s.*${consumer}\\s.*TaskCreated\\s.*task/${envelope.aggregateId}\\s.*5\\s.*Internal: the reactor broke`));
      expect(JSON.parse((await cli('--json', 'admin', 'dlq', 'list', '--consumer', consumer)).out)).toMatchObject({ total: 1, dead_letters: [{ seq: dlqSeq, consumer }] });

      // What the owning service wires; without it the API answers 503 and the CLI says so.
      const noOwner = await cli('admin', 'dlq', 'replay', String(dlqSeq));
      expect(noOwner.code).toBe(EXIT.failed);
      expect(noOwner.err).toContain('(HTTP 503)');
      const handled: string[] = [];
      const stop = serveAdminRequests(w.nc, w.names, { replay: { [consumer]: (seq) => replayDeadLetter(w.nc, w.names, consumer, seq, (e) => void handled.push(e.aggregateId)) } });
      try {
        expect(await cli('admin', 'dlq', 'replay', String(dlqSeq))).toEqual({ code: EXIT.ok, out: `dead letter ${dlqSeq} replayed by ${consumer}\n`, err: '' });
        expect(handled).toEqual([envelope.aggregateId]);
        expect((await cli('admin', 'dlq', 'list', '--consumer', consumer)).out).toBe('the dead-letter queue is empty\n');
      } finally {
        await stop();
      }
    });

    it('asks the lease holder (the scheduler) to rebuild a projection; one nobody owns is a 503 naming its subject', async () => {
      const before = JSON.parse((await cli('--json', 'tasks', 'list', '--limit', '1000')).out).total as number;
      expect(await cli('--json', 'admin', 'rebuild', 'tasks')).toEqual({ code: EXIT.ok, out: `${JSON.stringify({ projection: 'tasks', status: 'rebuilding' }, null, 2)}\n`, err: '' });
      await waitFor(async () => JSON.parse((await cli('--json', 'tasks', 'list', '--limit', '1000')).out).total === before, 'the rebuilt tasks read model to catch up');

      const none = await cli('admin', 'rebuild', 'nobody-owns-this');
      expect(none.code).toBe(EXIT.failed);
      expect(none.err).toContain('(HTTP 503)');
    });
  });
});
