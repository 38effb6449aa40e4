import { Command } from 'commander';
import { collect, collectList, parseIntOption, parseLabels } from '../args';
import { apiPath } from '../client';
import { contextOf, printWrite, type CliDeps } from '../context';
import { json, UsageError } from '../output';
import { propletDetails, propletsTable } from '../views';

type Json = Record<string, unknown>;

/** `propeller proplets list|get|label|cordon|uncordon` over `/proplets`. */
export function propletsCommand(deps: CliDeps): Command {
  const proplets = new Command('proplets').description('Workers: list, inspect, label, cordon, deregister');

  proplets
    .command('list')
    .description('List proplets (filters combine with AND)')
    .option('--type <type>', 'k8s or external')
    .option('--health <health>', 'unknown, healthy, offline or failed (repeatable: any of them)', collectList)
    .option('--device-type <type>', 'exact device type, e.g. esp32')
    .option('--capability <name>', 'required capability (repeatable: all of them)', collectList)
    .option('--label <key=value>', 'required label (repeatable: all of them)', collect)
    .option('--status <status>', 'active (healthy or unknown) or inactive (offline or failed)')
    .option('--offset <n>', 'rows to skip')
    .option('--limit <n>', 'page size (API default 100)')
    .action(async (o: { type?: string; health?: string[]; deviceType?: string; capability?: string[]; label?: string[]; status?: string; offset?: string; limit?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      for (const l of o.label ?? []) parseLabels([l], '--label');
      const res = await ctx.client.get<Json>('/proplets', {
        type: o.type,
        health: o.health,
        device_type: o.deviceType,
        capability: o.capability,
        label: o.label,
        status: o.status,
        offset: o.offset === undefined ? undefined : parseIntOption(o.offset, '--offset'),
        limit: o.limit === undefined ? undefined : parseIntOption(o.limit, '--limit', 1),
      });
      ctx.io.out(ctx.json ? json(res.body) : propletsTable(res.body));
    });

  proplets
    .command('get <id>')
    .description('Show one proplet')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.get<Json>(apiPath`/proplets/${id}`);
      ctx.io.out(ctx.json ? json(res.body) : propletDetails(res.body));
    });

  proplets
    .command('label <id> [labels...]')
    .description("Set the operator's overrides: labels (key=value, merged over the device's), device type, capabilities, capacity")
    .option('--clear-labels', "remove the operator's label overrides (the device's labels show again)")
    .option('--device-type <type>', 'device type override')
    .option('--capability <name>', 'capabilities override (repeatable, or comma-separated)', collectList)
    .option('--cpu <quantity>', 'CPU capacity override (Kubernetes quantity, e.g. 2 or 500m)')
    .option('--memory <quantity>', 'memory capacity override (e.g. 512Mi)')
    .action(async (id: string, labels: string[], o: { clearLabels?: boolean; deviceType?: string; capability?: string[]; cpu?: string; memory?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const body: Json = {};
      if (o.clearLabels === true && labels.length > 0) throw new UsageError('give labels or --clear-labels, not both');
      if (o.clearLabels === true) body['labels'] = null;
      else if (labels.length > 0) body['labels'] = parseLabels(labels, 'label');
      if (o.deviceType !== undefined) body['device_type'] = o.deviceType;
      if (o.capability !== undefined) body['capabilities'] = o.capability;
      if (o.cpu !== undefined || o.memory !== undefined) {
        body['capacity'] = { ...(o.cpu === undefined ? {} : { cpu: o.cpu }), ...(o.memory === undefined ? {} : { memory: o.memory }) };
      }
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give key=value labels, --clear-labels, --device-type, --capability, --cpu or --memory');
      printWrite(ctx, await ctx.client.request<Json>('PATCH', apiPath`/proplets/${id}`, { body }), propletDetails);
    });

  proplets
    .command('cordon <id>')
    .description('Cordon a proplet: it takes no new work (running tasks continue)')
    .option('--reason <text>', 'why (recorded in the event)')
    .action(async (id: string, o: { reason?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('POST', apiPath`/proplets/${id}/cordon`, o.reason === undefined ? {} : { body: { reason: o.reason } });
      printWrite(ctx, res, (p) => `proplet ${String(p['id'])} cordoned`);
    });

  proplets
    .command('uncordon <id>')
    .description('Uncordon a proplet: it takes new work again')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      printWrite(ctx, await ctx.client.request<Json>('POST', apiPath`/proplets/${id}/uncordon`), (p) => `proplet ${String(p['id'])} uncordoned`);
    });

  proplets
    .command('delete <id>')
    .description('Deregister a proplet (it stays gone until the device sends create again); refused while it has unfinished tasks')
    .option('--reason <text>', 'why (recorded in the event)')
    .action(async (id: string, o: { reason?: string }, cmd: Command) => {
      const ctx = contextOf(cmd, deps);
      const res = await ctx.client.request<Json>('DELETE', apiPath`/proplets/${id}`, o.reason === undefined ? {} : { query: { reason: o.reason } });
      printWrite(ctx, res.status === 204 ? { ...res, body: { id, deregistered: true } } : res, () => `proplet ${id} deregistered`);
    });

  return proplets;
}
