import { ModuleStore } from './modules/store';
import { TaskRunner, type TaskSpec } from './runner';
import { Sandbox, type TaskOutcome } from './sandbox/sandbox';
import { waitFor, wat } from './testing';

const MIB = 2 ** 20;
const CAP = 48 * MIB;
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const ADD = `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;
// A good task that takes long enough (~0.3 s of arithmetic) to overlap the bad one it runs beside.
const SLOW_SUM = `(module (func (export "sum") (param $n i32) (result i64) (local $acc i64)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $n)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
    (br $l)))
  (local.get $acc)))`;
const TRAP = `(module (func (export "boom") (result i32) unreachable))`;
const DIV0 = `(module (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s))`;
const LOOP = `(module (func (export "spin") (loop $l (br $l))))`;
// Grows its memory 1 MiB at a time, touching every 4 KiB page so the growth is real RSS, up to 1 GiB;
// when memory.grow fails it aborts the way compiled programs do on OOM: with a trap.
const HOG = `(module (memory 1)
  (func (export "hog") (result i32) (local $i i32) (local $p i32) (local $end i32)
    (loop $grow
      (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then unreachable))
      (local.set $p (i32.mul (i32.sub (memory.size) (i32.const 16)) (i32.const 65536)))
      (local.set $end (i32.mul (memory.size) (i32.const 65536)))
      (loop $touch
        (i32.store (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $grow (i32.lt_u (local.get $i) (i32.const 1024))))
    (memory.size)))`;

function runner(options: { maxTasks?: number; timeoutMs?: number } = {}): TaskRunner {
  return new TaskRunner(new ModuleStore({ memoryMaxBytes: CAP }), new Sandbox({ maxTasks: options.maxTasks ?? 4, timeoutMs: options.timeoutMs ?? 10_000 }));
}

async function task(wireId: string, source: string, name: string, inputs: unknown[] = [], extra: Partial<TaskSpec> = {}): Promise<TaskSpec> {
  return { wireId, module: { inline: b64(await wat(source)) }, name, inputs, ...extra };
}

/** Runs a bad task and a good one side by side, and checks the good one overlapped the bad one. */
async function besideGoodTask(r: TaskRunner, bad: TaskSpec): Promise<{ bad: TaskOutcome; good: TaskOutcome }> {
  const good = await task(`good-${bad.wireId}`, SLOW_SUM, 'sum', ['30000000']);
  const [badOutcome, goodOutcome] = await Promise.all([r.run(bad), r.run(good)]);
  return { bad: badOutcome, good: goodOutcome };
}

const GOOD = { ok: true, result: '450000015000000' };

describe('TaskRunner (sandbox)', () => {
  it('runs a core export with its inputs converted and answers the result in decimal', async () => {
    await expect(runner().run(await task('w1', ADD, 'add', ['40', 2]))).resolves.toMatchObject({ wireId: 'w1', ok: true, result: '42' });
  });

  it('fails a module that traps with the trap, while a concurrent good task succeeds', async () => {
    const r = runner();
    const { bad, good } = await besideGoodTask(r, await task('trap', TRAP, 'boom'));
    expect(bad).toMatchObject({ ok: false, reason: 'trap', error: 'trap: unreachable' });
    expect(good).toMatchObject(GOOD);
    await expect(r.run(await task('div0', DIV0, 'div', ['1', '0']))).resolves.toMatchObject({ ok: false, error: 'trap: divide by zero' });
  });

  it('fails a module that loops forever at its timeout, while a concurrent good task succeeds', async () => {
    const r = runner({ timeoutMs: 5_000 });
    const started = Date.now();
    const { bad, good } = await besideGoodTask(r, await task('loop', LOOP, 'spin', [], { timeoutMs: 1_000 }));
    expect(bad).toMatchObject({ ok: false, reason: 'timeout', error: 'task timed out after 1000 ms' });
    expect(bad.durationMs).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(good).toMatchObject(GOOD);
    expect(r.sandbox.runningCount).toBe(0);
  });

  it('stops a module that grows memory at its cap, keeps the process RSS bounded, and a concurrent good task succeeds', async () => {
    const r = runner();
    // Warm up: the first worker threads load code that later runs reuse, which is not the task's memory.
    await r.run(await task('warm', ADD, 'add', ['1', '1']));
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 5);
    try {
      const { bad, good } = await besideGoodTask(r, await task('hog', HOG, 'hog'));
      expect(bad).toMatchObject({ ok: false, reason: 'trap' });
      expect(bad.error).toBe('trap: unreachable (memory at 753 of the 768 pages allowed by PROPLET_TASK_MEMORY_MAX, 48 MiB: likely out of memory)');
      expect(good).toMatchObject(GOOD);
    } finally {
      clearInterval(sampler);
    }
    // Unbounded, the hog would have touched 1 GiB.
    expect(peak - baseline).toBeLessThan(2 * CAP);
  });

  it('fails invalid bytes with a clear error, while a concurrent good task succeeds', async () => {
    const r = runner();
    const junk: TaskSpec = { wireId: 'junk', module: { inline: Buffer.from('#!/bin/sh\nrm -rf /').toString('base64') }, name: 'main' };
    const { bad, good } = await besideGoodTask(r, junk);
    expect(bad).toMatchObject({ ok: false, reason: 'invalid', error: 'invalid module: not WebAssembly (expected the \\0asm magic and version 1, got 23212f62696e2f73)' });
    expect(good).toMatchObject(GOOD);
    // A correct header over a broken body is refused by validation, naming the engine's reason.
    const broken = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x0a, 0x02, 0x01, 0xff]);
    const outcome = await r.run({ wireId: 'broken', module: { inline: b64(broken) }, name: 'main' });
    expect(outcome).toMatchObject({ ok: false, reason: 'invalid' });
    expect(outcome.error).toMatch(/^invalid module: /);
  });

  it('answers wrong arity and unparsable inputs with an error naming parameter, value and type', async () => {
    const r = runner();
    await expect(r.run(await task('a1', ADD, 'add', ['1']))).resolves.toMatchObject({ ok: false, reason: 'invalid', error: 'add(i32, i32) takes 2 inputs, got 1' });
    await expect(r.run(await task('a2', ADD, 'add', ['1', '2.5']))).resolves.toMatchObject({
      ok: false,
      error: 'inputs[1]: parameter 1 of add(i32, i32) expects i32 (an integer from -2147483648 to 4294967295) (got "2.5")',
    });
    await expect(r.run(await task('a3', ADD, 'sub', ['1', '2']))).resolves.toMatchObject({ ok: false, error: 'module has no exported function "sub" (it exports: add)' });
    await expect(r.run(await task('a4', ADD, '_start'))).resolves.toMatchObject({ ok: false, reason: 'invalid', error: 'module has no exported function "_start" (it exports: add)' });
  });

  it('passes i32, i64, f32 and f64 through a call exactly', async () => {
    const r = runner();
    const echo = (t: string): string => `(module (func (export "id") (param ${t}) (result ${t}) local.get 0))`;
    await expect(r.run(await task('i32', echo('i32'), 'id', ['-7']))).resolves.toMatchObject({ result: '-7' });
    await expect(r.run(await task('i64', echo('i64'), 'id', ['9223372036854775807']))).resolves.toMatchObject({ result: '9223372036854775807' });
    await expect(r.run(await task('f32', echo('f32'), 'id', ['1.1']))).resolves.toMatchObject({ result: '1.1' });
    await expect(r.run(await task('f64', echo('f64'), 'id', ['-0.1']))).resolves.toMatchObject({ result: '-0.1' });
  });

  it('runs a WASI command with args and env, stdout as the result', async () => {
    const source = `(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "environ_sizes_get" (func $es (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "to stdout\\n")
      (data (i32.const 200) "to stderr\\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 10))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 0) (i32.const 200))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        ;; exit with the number of environment variables, so env reaching the program is visible
        (drop (call $es (i32.const 16) (i32.const 20)))
        (call $exit (i32.load (i32.const 16)))))`;
    const r = runner();
    await expect(r.run(await task('wasi0', source, '_start'))).resolves.toMatchObject({ ok: true, result: 'to stdout\n', stderr: 'to stderr\n', exitCode: 0 });
    await expect(r.run(await task('wasi2', source, '_start', [], { env: { A: '1', B: '2' } }))).resolves.toMatchObject({
      ok: false,
      reason: 'exit',
      exitCode: 2,
      result: 'to stdout\n',
      error: 'exited with code 2: to stderr',
    });
  });

  it('runs a WASI command that imports its memory, giving it a memory capped at PROPLET_TASK_MEMORY_MAX', async () => {
    const source = `(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "env" "memory" (memory 1))
      (data (i32.const 100) "imported\\n")
      (func (export "_start")
        ;; print, then grow by 64 MiB, past the 48 MiB cap: memory.grow must answer -1, or the task traps
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 9))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.ne (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))))`;
    await expect(runner().run(await task('wasi-import', source, '_start'))).resolves.toMatchObject({ ok: true, result: 'imported\n' });
  });

  it('keeps at most the output limit of a chatty program and says it was truncated', async () => {
    const source = `(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (local $i i32)
        (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 1000))
        (loop $l
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))`;
    const r = new TaskRunner(new ModuleStore({ memoryMaxBytes: CAP }), new Sandbox({ outputLimitBytes: 4096 }));
    const outcome = await r.run(await task('chatty', source, '_start'));
    expect(outcome.ok).toBe(true);
    expect(outcome.result).toBe(`${'\0'.repeat(4096)}\n[output truncated at 4096 bytes]`);
  });

  it('limits concurrency to maxTasks and stops a running task by its wire id', async () => {
    const r = runner({ maxTasks: 1 });
    const started: string[] = [];
    const spin = r.run(await task('spin', LOOP, 'spin', [], { onStarted: () => started.push('spin') }));
    const next = r.run(await task('next', ADD, 'add', ['1', '2'], { onStarted: () => started.push('next') }));
    await waitFor(() => r.sandbox.runningCount === 1 && r.sandbox.queuedCount === 1, 'one task running and one queued');
    expect(r.sandbox.queuedCount).toBe(1);
    expect(r.has('next')).toBe(true);
    expect(r.stop('spin')).toBe(true);
    await expect(spin).resolves.toMatchObject({ ok: false, reason: 'stopped', error: 'task was stopped' });
    await expect(next).resolves.toMatchObject({ ok: true, result: '3' });
    expect(started).toEqual(expect.arrayContaining(['next']));
    expect(r.stop('unknown')).toBe(false);
  });

  it('refuses a second start of a wire id that is running', async () => {
    const r = runner();
    const first = r.run(await task('dup', LOOP, 'spin', [], { timeoutMs: 2_000 }));
    await waitFor(() => r.sandbox.runningCount === 1, 'the first start to run');
    await expect(r.run(await task('dup', ADD, 'add', ['1', '2']))).rejects.toThrow('task dup is already running on this proplet');
    r.stop('dup');
    await first;
  });
});
