import { isPropellerError } from '@propeller/events';
import type { ModuleSource, ModuleStore } from './modules/store';
import type { RunRequest, Sandbox, TaskOutcome } from './sandbox/sandbox';

/** A task attempt as the proplet receives it, with its module not yet resolved. */
export interface TaskSpec extends Omit<RunRequest, 'module'> {
  module: ModuleSource;
}

/**
 * Resolves a task's module and runs it in the sandbox. Every failure — a module that cannot be
 * fetched, invalid bytes, bad inputs, a trap — becomes a failed outcome for that task only.
 */
export class TaskRunner {
  /** Wire ids whose module is still being resolved, and whether a stop arrived meanwhile. */
  private readonly resolving = new Map<string, { stopped: boolean }>();

  constructor(
    readonly store: ModuleStore,
    readonly sandbox: Sandbox,
  ) {}

  /** True while `wireId` is being resolved, queued or running: a second start of it is a duplicate. */
  has(wireId: string): boolean {
    return this.resolving.has(wireId) || this.sandbox.has(wireId);
  }

  /** Tasks resolving, queued or running. */
  get activeCount(): number {
    return this.resolving.size + this.sandbox.runningCount + this.sandbox.queuedCount;
  }

  async run(spec: TaskSpec): Promise<TaskOutcome> {
    const { module: source, ...rest } = spec;
    const mark = { stopped: false };
    this.resolving.set(spec.wireId, mark);
    let module;
    try {
      module = await this.store.resolve(source);
    } catch (err) {
      const error = isPropellerError(err) || err instanceof Error ? err.message : String(err);
      return { wireId: spec.wireId, ok: false, result: '', error, reason: 'invalid', durationMs: 0 };
    } finally {
      this.resolving.delete(spec.wireId);
    }
    if (mark.stopped) return { wireId: spec.wireId, ok: false, result: '', error: 'task was stopped before it started', reason: 'stopped', durationMs: 0 };
    return this.sandbox.run({ ...rest, module });
  }

  /** Stops a task wherever it is; false when this proplet does not know it. */
  stop(wireId: string): boolean {
    const r = this.resolving.get(wireId);
    if (r) {
      r.stopped = true;
      return true;
    }
    return this.sandbox.stop(wireId);
  }

  /** Resolves true once no task is active, false after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    // Resolution is short and rare; poll it only while it lasts, then wait on the sandbox.
    while (this.resolving.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.sandbox.idle(Math.max(0, deadline - Date.now()));
  }
}
