import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { type ProcessSpec, STABLE_AFTER_MS, restartDelayMs } from './plan';

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93, 95];

/** Prefixes every line of a child's output with its padded, coloured name. */
export function prefixer(name: string, width: number, index: number, color: boolean): (line: string) => string {
  const label = name.padEnd(width);
  const tag = color ? `\x1b[${COLORS[index % COLORS.length]}m${label}\x1b[0m` : label;
  return (line) => `${tag} | ${line}`;
}

interface Running {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  crashes: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface SupervisorOptions {
  root: string;
  out: Writable;
  color: boolean;
  /** How long `stop()` waits for SIGTERM before SIGKILL (default 15 s). */
  stopTimeoutMs?: number;
  /** Whether a `readyUrl` answers (default: a GET that answers 2xx within 1 s). */
  probe?: (url: string) => Promise<boolean>;
  /** Node.js flags of every child (default `SERVICE_NODE_ARGS`; the bench's `--profile` adds `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

/**
 * Node.js flags every service runs with. A service allocates short-lived objects for every message
 * (envelopes, decoded events, replies); with the default 16 MiB young generation, scavenges were about a
 * tenth of the scheduler's CPU at a few hundred tasks a second. 32 MiB semi-spaces took the end-to-end
 * bench from ~400 to ~520 tasks/s, 64 MiB from ~800 to ~865 (issue 4; docs/performance.md). V8 grows
 * the semi-spaces only under allocation pressure, so an idle service does not pay for them.
 * Deployments set the same in `NODE_OPTIONS`.
 */
export const SERVICE_NODE_ARGS: readonly string[] = ['--max-semi-space-size=64'];

/** A GET that answers 2xx within a second. */
export async function httpReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Runs each process of the local stack, prefixes its output, restarts a crashed one with backoff
 * (1 s doubling to 30 s, reset after a minute of stable running) and stops them all cleanly.
 */
export class Supervisor {
  readonly #running = new Map<string, Running>();
  #stopping = false;
  readonly #width: number;

  constructor(
    private readonly specs: ProcessSpec[],
    private readonly opts: SupervisorOptions,
  ) {
    this.#width = Math.max(...specs.map((s) => s.name.length), 'propeller'.length);
  }

  /** Writes a line of the supervisor's own. */
  say(line: string): void {
    this.opts.out.write(`${prefixer('propeller', this.#width, 8, this.opts.color)(line)}\n`);
  }

  start(): void {
    // Every entry first, so a process that starts after another can find it (and stop() sees them all).
    for (const spec of this.specs) this.#running.set(spec.name, { spec, child: undefined, crashes: 0, startedAt: 0, restartTimer: undefined });
    this.specs.forEach((spec, i) => {
      const r = this.#running.get(spec.name) as Running;
      if (spec.startAfter === undefined || spec.startAfter.length === 0) this.#launch(r, i);
      else void this.#launchWhenReady(r, i, spec.startAfter);
    });
  }

  /** Launches `r` once every process it starts after is ready (polling their `readyUrl` every 300 ms). */
  async #launchWhenReady(r: Running, index: number, after: string[]): Promise<void> {
    const probe = this.opts.probe ?? httpReady;
    for (const name of after) {
      const url = this.#running.get(name)?.spec.readyUrl;
      if (url === undefined) continue;
      while (!this.#stopping && !(await probe(url))) await new Promise((res) => setTimeout(res, 300));
    }
    if (!this.#stopping) this.#launch(r, index);
  }

  /** The pid of a running process (for tests and tools). */
  pid(name: string): number | undefined {
    return this.#running.get(name)?.child?.pid;
  }

  #launch(r: Running, index: number): void {
    const { spec } = r;
    const prefix = prefixer(spec.name, this.#width, index, this.opts.color);
    const child = spawn(process.execPath, [...(this.opts.nodeArgs ?? SERVICE_NODE_ARGS), '--import', 'tsx', spec.entry], {
      cwd: this.opts.root,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and a service
      // that got SIGINT from the terminal and then SIGTERM from us would take the second signal as
      // "exit now" and skip its graceful stop. Only the supervisor decides how children stop.
      detached: true,
    });
    r.child = child;
    r.startedAt = Date.now();
    // The pid, so an operator (or a test) can find the process of a service without parsing `ps`.
    this.say(`${spec.name} started (pid ${child.pid ?? 'unknown'})`);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => this.opts.out.write(`${prefix(line)}\n`));
    }
    child.on('exit', (code, signal) => {
      r.child = undefined;
      if (this.#stopping) return;
      const ranMs = Date.now() - r.startedAt;
      r.crashes = ranMs >= STABLE_AFTER_MS ? 1 : r.crashes + 1;
      const delay = restartDelayMs(r.crashes);
      this.say(`${spec.name} exited (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)}s; restarting in ${delay / 1000}s`);
      r.restartTimer = setTimeout(() => {
        r.restartTimer = undefined;
        if (!this.#stopping) this.#launch(r, index);
      }, delay);
    });
  }

  /** SIGTERM to everyone, SIGKILL to whoever is still there after the timeout. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const waits: Promise<void>[] = [];
    for (const r of this.#running.values()) {
      if (r.restartTimer) clearTimeout(r.restartTimer);
      const child = r.child;
      if (!child || child.exitCode !== null) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => child.kill('SIGKILL'), this.opts.stopTimeoutMs ?? 15_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
      );
    }
    await Promise.all(waits);
  }
}
