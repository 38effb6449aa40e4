import { Command } from 'commander';
import { collectList, parseIntOption } from '../args';
import { apiPath } from '../client';
import { contextOf, printWrite, type CliDeps } from '../context';
import { basename } from 'node:path';
import { json, TaskFailedError, UsageError } from '../output';
import { idempotencyHeaders, taskBody, withTaskOptions, type TaskOptions } from '../task-request';
import { eventsTable, resultText, taskDetails, tasksTable } from '../views';
import { chooseFunction, loadModule } from '../wasm';
import { failureMessage } from './run';

type Json = Record<string, unknown>;

/** The items of a list answer, whether the API sends a bare array or `{<key>: [...]}`. */
export function itemsOf(body: unknown, key: string): Json[] {
  if (Array.isArray(body)) return body as Json[];
  const v = (body as Json | undefined)?.[key];
  return Array.isArray(v) ? (v as Json[]) : [];
}

/** `propeller tasks create|list|get|start|stop|delete|results|events` over `/tasks`. */
export function tasksCommand(deps: CliDeps): Command {
  const tasks = new Command('tasks').description('Tasks: create, inspect, start, stop, delete, results, timeline');

  withTaskOptions(
    tasks
      .command('create <name> [module]')
      .description('Create a task calling export <name> of a .wasm/.wat module (or --image-url); it waits for `tasks start` unless --start'),
  )
    .option('--image-url <ref>', 'fetch the module from this URL or OCI reference instead of uploading a file')
    .option('--function <export>', 'the export to call when it is not <name>')
    .option('--start', 'start it at once')
    .action(async (name: string, module: string | undefined, o: TaskOptions & { start?: boolean; function?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      if (module === undefined && o.imageUrl === undefined) throw new UsageError('give a module file (.wasm or .wat) or --image-url');
      const loaded = module === undefined ? undefined : await loadModule(module);
      if (loaded !== undefined) chooseFunction(loaded.functions, o.function ?? name, basename(loaded.file));
      const body = taskBody(name, o, loaded === undefined ? {} : { file: loaded.bytes });
      if (o.function !== undefined) body['function_name'] = o.function;
      if (o.start === true) body['start'] = true;
      const res = await ctx.client.request<Json>('POST', '/tasks', { body, headers: idempotencyHeaders(o) });
      printWrite(ctx, res, (t) => `task ${String(t['id'])} ${String(t['status'])}\n${taskDetails(t)}`);
    });

  tasks
    .command('list')
    .description('List tasks, oldest first')
    .option('--status <status>', 'created, pending, scheduled, running, completed, failed or stopped (repeatable: any of them)', collectList)
    .option('--proplet <id>', 'tasks whose current attempt is on this proplet')
    .option('--offset <n>', 'rows to skip')
    .option('--limit <n>', 'page size (API default 100)')
    .action(async (o: { status?: string[]; proplet?: string; offset?: string; limit?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<Json>('/tasks', {
        status: o.status,
        proplet_id: o.proplet,
        offset: o.offset === undefined ? undefined : parseIntOption(o.offset, '--offset'),
        limit: o.limit === undefined ? undefined : parseIntOption(o.limit, '--limit', 1),
      });
      ctx.io.out(ctx.json ? json(res.body) : tasksTable(res.body));
    });

  tasks
    .command('get <id>')
    .description('Show one task')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<Json>(apiPath`/tasks/${id}`);
      ctx.io.out(ctx.json ? json(res.body) : taskDetails(res.body));
    });

  tasks
    .command('start <id>')
    .description('Start a created task (it becomes pending and is placed on a proplet)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/tasks/${id}/start`);
      printWrite(ctx, res, (t) => `task ${id} ${String(t['status'])}`);
    });

  tasks
    .command('stop <id>')
    .description('Stop a task wherever it is (terminal; a running attempt is told to stop)')
    .option('--reason <text>', 'why (recorded in the event)')
    .action(async (id: string, o: { reason?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/tasks/${id}/stop`, o.reason === undefined ? {} : { body: { reason: o.reason } });
      printWrite(ctx, res, (t) => `task ${id} ${String(t['status'])}`);
    });

  tasks
    .command('delete <id>')
    .description('Delete a task (stopping an attempt that is running)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('DELETE', apiPath`/tasks/${id}`);
      // 204 has no body: scripts get a small object saying what happened.
      printWrite(ctx, res.status === 204 ? { ...res, body: { id, deleted: true } } : res, () => `task ${id} deleted`);
    });

  tasks
    .command('results <id>')
    .description('Print the result of a task (the value alone; --json for the whole answer)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<Json>(apiPath`/tasks/${id}/results`);
      if (ctx.json) return ctx.io.out(json(res.body));
      const b = res.body ?? {};
      if (b['status'] === 'failed') throw new TaskFailedError(failureMessage({ ...b, id }), b);
      if (b['results'] === null || b['results'] === undefined) throw new TaskFailedError(`task ${id} has no result yet (status ${String(b['status'])})`, b);
      ctx.io.out(resultText(b['results']));
    });

  tasks
    .command('events <id>')
    .description("Show a task's timeline, oldest first")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<unknown>(apiPath`/tasks/${id}/events`);
      ctx.io.out(ctx.json ? json(res.body) : eventsTable(itemsOf(res.body, 'events')));
    });

  return tasks;
}
