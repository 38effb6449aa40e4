import { Command } from 'commander';
import { parseIntOption } from '../args';
import { apiPath } from '../client';
import { contextOf, type CliDeps } from '../context';
import { json } from '../output';
import { evacuationLine, sitesTable } from '../views';

type Json = Record<string, unknown>;

/** `propeller sites list|resume` over `/sites` (the evacuation breaker of issue 6). */
export function sitesCommand(deps: CliDeps): Command {
  const sites = new Command('sites').description('Sites (propeller.io/site label): proplets by health and the evacuation breaker');

  sites
    .command('list')
    .description('List sites with their proplets by health and whether evacuation is paused')
    .option('--offset <n>', 'sites to skip')
    .option('--limit <n>', 'page size (API default 100)')
    .action(async (o: { offset?: string; limit?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<Json>('/sites', {
        offset: o.offset === undefined ? undefined : parseIntOption(o.offset, '--offset'),
        limit: o.limit === undefined ? undefined : parseIntOption(o.limit, '--limit', 1),
      });
      ctx.io.out(ctx.json ? json(res.body) : sitesTable(res.body));
    });

  sites
    .command('resume <site>')
    .description("Resume a site's paused evacuation (an operator's decision; idempotent)")
    .action(async (site: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/sites/${site}/evacuation/resume`);
      ctx.io.out(ctx.json ? json(res.body) : `site ${site}: evacuation ${evacuationLine((res.body['evacuation'] ?? {}) as Json)}`);
    });

  return sites;
}
