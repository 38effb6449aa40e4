import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConflictError, InvalidError, isPropellerError } from '@propeller/events';
import { exportedFunctionNames, exportedFunctionType } from '../wasm/module';
import { convertInputs, formatResult, type WasmArg } from './convert';
import type { PreparedModule } from './prepare';

/** Sandbox limits. */
export interface SandboxOptions {
  /** Tasks running at once; more wait in a FIFO queue (`max_tasks`, default 4). */
  maxTasks?: number;
  /** Wall-clock limit of one run, unless the request sets its own (default 60 s). */
  timeoutMs?: number;
  /** Bytes of stdout/stderr kept per stream (default 1 MiB). */
  outputLimitBytes?: number;
  /** JS heap cap of each worker, a backstop: Wasm memory is capped by the module rewrite (default 32 MB). */
  workerHeapMb?: number;
}

/** One task attempt to run. */
export interface RunRequest {
  /** The attempt's wire id: the key for stop and de-duplication. */
  wireId: string;
  module: PreparedModule;
  /** Export to call; `_start` (or a module that exports only `_start`) runs as a WASI command. */
  name: string;
  inputs?: readonly unknown[];
  cliArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
  /** Called when the run leaves the queue and its worker starts. */
  onStarted?: () => void;
}

/** How a run ended. Failures are outcomes, never rejections. */
export interface TaskOutcome {
  wireId: string;
  ok: boolean;
  /** The first return value in decimal, or the WASI program's stdout. */
  result: string;
  /** Why it failed; set only when `ok` is false. */
  error?: string;
  reason?: 'invalid' | 'trap' | 'exit' | 'timeout' | 'stopped' | 'crashed';
  stderr?: string;
  exitCode?: number;
  durationMs: number;
}

interface WorkerReply {
  ok: boolean;
  value?: unknown;
  error?: string;
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

interface Job {
  req: RunRequest;
  mode: 'call' | 'wasi';
  args: WasmArg[];
  resultType: Parameters<typeof formatResult>[1];
  resolve: (o: TaskOutcome) => void;
  worker?: Worker;
  startedAt?: number;
  settle?: (o: Omit<TaskOutcome, 'wireId' | 'durationMs'>) => void;
}

const WORKER_FILE = join(__dirname, 'worker.mjs');

/**
 * Runs Wasm tasks, each in its own worker thread with a wall-clock timeout, at most `maxTasks` at
 * once. A trap, a timeout, a crash or a stop ends only that task's worker.
 */
export class Sandbox {
  readonly maxTasks: number;
  private readonly timeoutMs: number;
  private readonly outputLimit: number;
  private readonly heapMb: number;
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, Job>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(options: SandboxOptions = {}) {
    this.maxTasks = options.maxTasks ?? 4;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.outputLimit = options.outputLimitBytes ?? 2 ** 20;
    this.heapMb = options.workerHeapMb ?? 32;
  }

  /** Tasks whose worker is running. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Tasks waiting for a free slot. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /** True while `wireId` is queued or running. */
  has(wireId: string): boolean {
    return this.running.has(wireId) || this.queue.some((j) => j.req.wireId === wireId);
  }

  /**
   * Queues a run and resolves with its outcome. Bad inputs resolve at once with an `invalid` outcome;
   * a wire id already queued or running is a `ConflictError` (the caller de-duplicates starts).
   */
  run(req: RunRequest): Promise<TaskOutcome> {
    if (this.has(req.wireId)) return Promise.reject(new ConflictError(`task ${req.wireId} is already running on this proplet`));
    let job: Omit<Job, 'resolve'>;
    try {
      job = this.plan(req);
    } catch (err) {
      const error = isPropellerError(err) || err instanceof Error ? err.message : String(err);
      return Promise.resolve({ wireId: req.wireId, ok: false, result: '', error, reason: 'invalid', durationMs: 0 });
    }
    return new Promise((resolve) => {
      this.queue.push({ ...job, resolve });
      this.pump();
    });
  }

  /** Stops a queued or running task; its outcome is a `stopped` failure. False when it is unknown. */
  stop(wireId: string): boolean {
    const i = this.queue.findIndex((j) => j.req.wireId === wireId);
    if (i >= 0) {
      const [job] = this.queue.splice(i, 1);
      job?.resolve({ wireId, ok: false, result: '', error: 'task was stopped before it started', reason: 'stopped', durationMs: 0 });
      this.notifyIdle();
      return true;
    }
    const job = this.running.get(wireId);
    if (job === undefined) return false;
    job.settle?.({ ok: false, result: '', error: 'task was stopped', reason: 'stopped' });
    return true;
  }

  /** Resolves true once nothing is queued or running, or false after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0 && this.queue.length === 0) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stops every queued and running task. */
  stopAll(): void {
    for (const job of [...this.queue]) this.stop(job.req.wireId);
    for (const wireId of [...this.running.keys()]) this.stop(wireId);
  }

  private plan(req: RunRequest): Omit<Job, 'resolve'> {
    const { info } = req.module;
    const exported = exportedFunctionType(info, req.name);
    const hasStart = exportedFunctionType(info, '_start') !== undefined;
    // Upstream's tasks name the export; a WASI command is run through `_start` whatever the name
    // says (the Rust proplet does the same when the named export is missing).
    if (hasStart && (req.name === '_start' || exported === undefined)) {
      return { req, mode: 'wasi', args: [], resultType: undefined };
    }
    if (exported === undefined) {
      const names = exportedFunctionNames(info);
      throw new InvalidError(`module has no exported function "${req.name}" (it exports: ${names.length ? names.join(', ') : 'no functions'})`, [
        { field: 'name', value: req.name, rule: 'an exported function of the module' },
      ]);
    }
    return { req, mode: 'call', args: convertInputs(req.name, exported, req.inputs ?? []), resultType: exported.results[0] };
  }

  private pump(): void {
    while (this.running.size < this.maxTasks && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      this.start(job);
    }
  }

  private start(job: Job): void {
    const { req } = job;
    const startedAt = performance.now();
    job.startedAt = startedAt;
    this.running.set(req.wireId, job);
    const worker = new Worker(WORKER_FILE, {
      workerData: {
        module: req.module.compiled,
        mode: job.mode,
        name: req.name,
        args: job.args,
        cliArgs: [...(req.cliArgs ?? [])],
        env: { ...(req.env ?? {}) },
        importedMemories: req.module.importedMemories,
        memoryMaxPages: req.module.info.memories[0]?.max ?? req.module.importedMemories[0]?.max,
        outputLimit: this.outputLimit,
      },
      // Workers get neither the proplet's environment nor its loader flags (tsx), and a small heap.
      env: {},
      execArgv: ['--no-warnings'],
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 8, stackSizeMb: 4 },
    });
    job.worker = worker;
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    let done = false;
    const settle = (o: Omit<TaskOutcome, 'wireId' | 'durationMs'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate();
      this.running.delete(req.wireId);
      job.resolve({ ...o, wireId: req.wireId, durationMs: Math.round(performance.now() - startedAt) });
      this.pump();
      this.notifyIdle();
    };
    job.settle = settle;
    const timer = setTimeout(() => settle({ ok: false, result: '', error: `task timed out after ${timeoutMs} ms`, reason: 'timeout' }), timeoutMs);
    worker.once('message', (reply: WorkerReply) => {
      const base = { ...(reply.stderr ? { stderr: reply.stderr } : {}), ...(reply.exitCode !== undefined ? { exitCode: reply.exitCode } : {}) };
      if (reply.ok) {
        // A void export that printed (a WASI reactor) reports what it printed.
        const result = job.mode === 'wasi' ? String(reply.value ?? '') : reply.value === undefined && reply.stdout ? reply.stdout : formatResult(reply.value, job.resultType);
        settle({ ok: true, result, ...base });
      } else {
        settle({ ok: false, result: reply.stdout ?? '', error: reply.error ?? 'task failed', reason: reply.exitCode !== undefined ? 'exit' : 'trap', ...base });
      }
    });
    worker.once('error', (err) => settle({ ok: false, result: '', error: `task worker crashed: ${err.message}`, reason: 'crashed' }));
    worker.once('exit', (code) => settle({ ok: false, result: '', error: `task worker exited (code ${code}) without a result`, reason: 'crashed' }));
    worker.once('online', () => req.onStarted?.());
  }

  private notifyIdle(): void {
    if (this.running.size > 0 || this.queue.length > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
