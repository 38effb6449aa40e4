import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { parseDurationOption } from '../args';
import { apiPath, isApiError, type ApiClient } from '../client';
import { contextOf, type CliDeps } from '../context';
import { InterruptedError, json, TaskFailedError } from '../output';
import { idempotencyHeaders, taskBody, TERMINAL_STATUSES, withTaskOptions, type TaskOptions } from '../task-request';
import { resultText } from '../views';
import { chooseFunction, loadModule } from '../wasm';

type Json = Record<string, unknown>;

/** Default delay between two polls of the task while `propeller run` waits (200 ms). */
export const DEFAULT_POLL_MS = 200;

/**
 * The progress line for a change of the task since the last one shown, or undefined when nothing a
 * person cares about changed (status, proplet, attempt, or why it waits).
 */
export function progressLine(previous: Json | undefined, task: Json): string | undefined {
  const key = (t: Json | undefined) =>
    t === undefined ? '' : JSON.stringify([t['status'], t['proplet_id'], t['attempt'], t['unschedulable_reasons']]);
  if (key(previous) === key(task)) return undefined;
  const status = String(task['status']);
  const attempt = typeof task['attempt'] === 'number' && task['attempt'] > 1 ? ` (attempt ${task['attempt']})` : '';
  const on = typeof task['proplet_id'] === 'string' && status !== 'pending' && status !== 'created' ? ` on ${task['proplet_id']}` : '';
  const reasons = task['unschedulable_reasons'];
  const waiting = status === 'pending' && Array.isArray(reasons) && reasons.length > 0 ? `: waiting, ${reasons.join('; ')}` : '';
  return `task ${String(task['id'])}: ${status}${on}${attempt}${waiting}`;
}

/** Why a task that ended without success ended, in one line. */
export function failureMessage(task: Json): string {
  const id = String(task['id']);
  if (task['status'] === 'stopped') return `task ${id} was stopped`;
  const error = typeof task['error'] === 'string' && task['error'] !== '' ? task['error'] : typeof task['failure_reason'] === 'string' ? task['failure_reason'] : 'no error given';
  const where = typeof task['proplet_id'] === 'string' ? ` on ${task['proplet_id']}` : '';
  return `task ${id} failed${where}: ${error}`;
}

/** Polls `GET /tasks/{id}` until it is terminal or `deadline` (epoch ms) passes; reports changes through `progress`. */
export async function waitForTask(
  client: ApiClient,
  id: string,
  o: { pollMs: number; deadline?: number; interrupt?: AbortSignal; progress: (line: string) => void },
): Promise<Json> {
  let last: Json | undefined;
  for (;;) {
    let task: Json | undefined;
    try {
      task = (await client.get<Json>(apiPath`/tasks/${id}`)).body;
    } catch (e) {
      // A write answered 202 may not be in the read model yet: keep waiting for it to appear.
      if (!(isApiError(e) && e.status === 404 && last === undefined)) throw e;
    }
    if (task !== undefined) {
      const line = progressLine(last, task);
      if (line !== undefined) o.progress(line);
      last = task;
      if (TERMINAL_STATUSES.includes(String(task['status']))) return task;
    }
    if (o.deadline !== undefined && Date.now() >= o.deadline) {
      throw new TaskFailedError(`gave up waiting: task ${id} is still ${String(last?.['status'] ?? 'not visible')} (see \`propeller tasks get ${id}\`)`, last ?? { id });
    }
    if (o.interrupt?.aborted !== true) await sleep(o.pollMs, undefined, o.interrupt === undefined ? {} : { signal: o.interrupt }).catch(() => undefined);
    if (o.interrupt?.aborted === true) {
      throw new InterruptedError(`interrupted: task ${id} goes on (${String(last?.['status'] ?? 'not visible yet')}); \`propeller tasks get ${id}\` shows it, \`propeller tasks stop ${id}\` stops it`);
    }
  }
}

/**
 * `propeller run <module.wasm|.wat> --inputs 2,3`: compiles a `.wat`, creates the task with `start: true`,
 * shows its status changes on stderr, prints the result alone on stdout (the whole task with `--json`),
 * and exits non-zero with the error when the task fails or is stopped.
 */
export function runCommand(deps: CliDeps): Command {
  return withTaskOptions(
    new Command('run')
      .argument('<module>', 'a .wasm module, or a .wat file compiled on the fly')
      .description('Run a Wasm function on a proplet and print its result'),
  )
    .option('--function <name>', 'the export to call (default: the only exported function)')
    .option('--wait <duration>', 'give up waiting after this long (default: wait until the task ends)')
    .action(async (file: string, o: TaskOptions & { function?: string; wait?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const deadline = o.wait === undefined ? undefined : Date.now() + parseDurationOption(o.wait, '--wait');
      const module = await loadModule(file);
      const fn = chooseFunction(module.functions, o.function, basename(file));
      const body = { ...taskBody(fn, o, { file: module.bytes }), start: true };
      // A key even when none was given, so that a create retried after a lost answer runs once.
      const headers = { 'idempotency-key': randomUUID(), ...idempotencyHeaders(o) };
      const created = await ctx.client.request<Json>('POST', '/tasks', { body, headers });
      const id = String(created.body?.['id'] ?? created.headers.get('location')?.split('/').pop() ?? '');
      if (id === '') throw new Error('the API created the task but answered no id');
      ctx.io.err(`task ${id}: created (${fn} of ${basename(file)}, ${module.bytes.length} bytes)`);
      const task = await waitForTask(ctx.client, id, {
        pollMs: deps.pollMs ?? DEFAULT_POLL_MS,
        ...(deadline === undefined ? {} : { deadline }),
        ...(deps.interrupt === undefined ? {} : { interrupt: deps.interrupt }),
        progress: (line) => ctx.io.err(line),
      });
      if (ctx.json) ctx.io.out(json(task));
      if (task['status'] !== 'completed') throw new TaskFailedError(failureMessage(task), task);
      if (!ctx.json) ctx.io.out(resultText(task['results'] ?? (await ctx.client.get<Json>(apiPath`/tasks/${id}/results`)).body['results']));
    });
}
