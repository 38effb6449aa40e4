import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { buildSync } from 'esbuild';

/** One JSON log line of a spawned service. */
export type LogLine = Record<string, unknown>;

/** How a spawned process ended, and how long after the spawn. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

/** A service process started by a test, with its output captured. */
export interface SpawnedService {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The JSON lines on stdout so far (the logger's output). */
  logs(): LogLine[];
  /** Resolves with the first log line matching `pred`; rejects on exit or after `timeoutMs` (default 10 s), with the output. */
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILLs after `timeoutMs` (default 10 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  /** Variables of the child; only `PATH` is inherited, so the developer's shell does not leak in. */
  env?: Record<string, string>;
  cwd?: string;
  args?: string[];
}

/** Matches a log line by its `msg`. */
export const byMsg =
  (msg: string) =>
  (line: LogLine): boolean =>
    line['msg'] === msg;

/**
 * Bundles a TypeScript entry and the workspace libs it imports into one CommonJS file (esbuild), so a
 * test can spawn it with plain `node` and measure the service's own start-up rather than a loader's.
 * Not for code that loads files next to itself at run time (worker scripts).
 */
export function bundleService(entry: string, outfile: string): string {
  buildSync({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'error' });
  return outfile;
}

/** Spawns a JavaScript file (e.g. from `bundleService`) with `node`. */
export function spawnNode(file: string, options: SpawnOptions = {}): SpawnedService {
  return spawnProcess([file, ...(options.args ?? [])], options);
}

/** Spawns a TypeScript entry through tsx, as `npm` scripts run services. */
export function spawnTs(entry: string, options: SpawnOptions = {}): SpawnedService {
  const tsx = createRequire(__filename).resolve('tsx/cli');
  return spawnProcess([tsx, entry, ...(options.args ?? [])], options);
}

function spawnProcess(nodeArgs: string[], options: SpawnOptions): SpawnedService {
  const started = performance.now();
  const proc = spawn(process.execPath, nodeArgs, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  proc.stdout?.on('data', (c: Buffer) => {
    out += String(c);
    wake();
  });
  proc.stderr?.on('data', (c: Buffer) => (err += String(c)));
  // 'close', not 'exit': it fires once stdout and stderr are drained, so the output is complete.
  let closed = false;
  const exited = new Promise<Exit>((resolve) => {
    proc.on('close', (code, signal) => {
      closed = true;
      resolve({ code, signal, ms: performance.now() - started });
      // Let pending waiters fail now rather than at their timeout.
      setImmediate(wake);
    });
  });

  const logs = (): LogLine[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      });

  const waitForLog = (pred: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const done = () => {
        waiters.delete(check);
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const check = () => {
        const hit = logs().find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (closed) {
          done();
          reject(new Error(`exited (${proc.exitCode ?? proc.signalCode}) before the log line\nstdout:\n${out}\nstderr:\n${err}`));
        }
      };
      waiters.add(check);
      check();
    });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<Exit> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return { proc, stdout: () => out, stderr: () => err, logs, waitForLog, exited, stop };
}

/** Waits until a service on `runService` is started and returns the base URL of its `/health` and `/metrics`. */
export async function waitUntilServing(s: SpawnedService, timeoutMs = 10_000): Promise<string> {
  const serving = await s.waitForLog(byMsg('serving /health and /metrics'), timeoutMs);
  await s.waitForLog(byMsg('started'), timeoutMs);
  return `http://127.0.0.1:${String(serving['port'])}`;
}
