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
    .description("Hand a dead letter (its SEQ in `dlq list`) back to its consumer's handler; it leaves the queue once handled")
    .option('--consumer <name>', 'check that the letter belongs to this consumer')
    .action(async (seq: string, o: { consumer?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const path = o.consumer === undefined ? apiPath`/admin/dlq/${seq}/replay` : apiPath`/admin/dlq/${o.consumer}/${seq}/replay`;
      const res = await ctx.client.request<Json>('POST', path);
      printWrite(ctx, res, (b) => `dead letter ${seq} replayed by ${String(b['consumer'] ?? o.consumer ?? 'its consumer')}`);
    });

  admin
    .command('rebuild <projection>')
    .description('Rebuild a read model from the event log (done by the projection\'s lease holder)')
    .action(async (projection: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/admin/projections/${projection}/rebuild`);
      printWrite(ctx, res, () => `projection ${projection}: emptied and replaying from the start of the log (the read model catches up as it goes)`);
    });

  return admin;
}
