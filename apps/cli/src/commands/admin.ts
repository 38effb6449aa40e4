import { Command } from 'commander';
import { apiPath } from '../client';
import { contextOf, printWrite, type CliDeps } from '../context';
import { json } from '../output';
import { deadLettersTable } from '../views';
import { itemsOf } from './tasks';

type Json = Record<string, unknown>;

/** `propeller admin dlq list|replay` and `admin rebuild <projection>` over `/admin/...`. */
export function adminCommand(deps: CliDeps): Command {
  const admin = new Command('admin').description('Operator tools: dead-letter queue, projection rebuilds');
  const dlq = admin.command('dlq').description('Events a process manager gave up on, with their error');

  dlq
    .command('list')
    .description('List dead letters')
    .option('--consumer <name>', 'only this consumer')
    .action(async (o: { consumer?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<unknown>('/admin/dlq', { consumer: o.consumer });
      ctx.io.out(ctx.json ? json(res.body) : deadLettersTable(itemsOf(res.body, 'dead_letters')));
    });

  dlq
    .command('replay <seq>')
    .description('Hand a dead letter (by its sequence in the dead-letter queue) back to its consumer')
    .action(async (seq: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/admin/dlq/${seq}/replay`);
      printWrite(ctx, res, () => `dead letter ${seq} replayed`);
    });

  admin
    .command('rebuild <projection>')
    .description('Rebuild a read model from the event log (done by the projection\'s lease holder)')
    .action(async (projection: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/admin/projections/${projection}/rebuild`);
      printWrite(ctx, res, (b) => `projection ${projection} rebuilt${typeof b?.['checkpoint'] === 'number' ? ` up to sequence ${b['checkpoint']}` : ''}`);
    });

  return admin;
}
