import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { NatsConnection } from '@nats-io/transport-node';
import { PropletTypeSchema } from '@propeller/events';
import { natsCheck, postgresCheck, type HealthCheck } from '@propeller/service';
import type { ApiContext } from './app';
import { REST_HEALTH } from './proplets/schemas';
import { ErrorJsonSchema } from './routes';

/** Gauge of proplets by type and health, computed from the read model at scrape time. */
export const PROPLETS_TOTAL_METRIC = 'propeller_proplets_total';

/** `/health` checks of the API: NATS answers, Postgres answers, no projection is stalled. */
export function apiChecks(nc: NatsConnection, db: Kysely<unknown>): Record<'nats' | 'postgres' | 'projections', HealthCheck> {
  return {
    nats: natsCheck(nc),
    postgres: postgresCheck(db),
    async projections() {
      // The checkpoint row carries the stall, so every process sees it (ARCHITECTURE.md: a stall degrades /health).
      const stalled = await sql<{ name: string; error: string | null }>`select name, error from projection_checkpoints where status = 'stalled' order by name`.execute(db);
      if (stalled.rows.length === 0) return true;
      return { status: 'degraded', detail: stalled.rows.map((r) => `${r.name} stalled: ${r.error ?? 'unknown error'}`).join('; ') };
    },
  };
}

const CheckJsonSchema = z.object({ status: z.enum(['pass', 'degraded', 'fail']), detail: z.string().optional() });
/** The body of `/health`. */
export const HealthJsonSchema = z.object({ status: z.enum(['pass', 'degraded', 'fail']), checks: z.record(z.string(), CheckJsonSchema) });

/** `/health` and `/metrics` on the API port. */
export function registerHealthRoutes(ctx: ApiContext): void {
  for (const [name, check] of Object.entries(apiChecks(ctx.nc, ctx.db as Kysely<unknown>))) ctx.health.register(name, check);

  ctx.routes.add({
    method: 'GET',
    url: '/health',
    summary: 'Health: 200 {"status":"pass"} only when NATS and Postgres answer and no projection is stalled',
    tag: 'meta',
    responses: {
      200: { description: 'Every check passes', schema: HealthJsonSchema },
      503: { description: 'A check fails or a projection is stalled; checks names which and why', schema: HealthJsonSchema },
    },
    handler: async (_request, reply) => {
      const report = await ctx.health.report();
      return reply.code(report.status === 'pass' ? 200 : 503).send(report);
    },
  });

  const types = PropletTypeSchema.options;
  ctx.metrics.gauge({
    name: PROPLETS_TOTAL_METRIC,
    help: 'Proplets in the read model, by type and health (deregistered proplets are not counted)',
    labelNames: ['type', 'health'] as const,
    async collect() {
      // Every combination is written, so a count that drops to zero shows 0 rather than its last value.
      const counts = new Map<string, number>();
      try {
        const rows = await sql<{ type: string; health: string; n: number }>`select type, health, count(*)::int as n from proplets group by type, health`.execute(ctx.db);
        for (const r of rows.rows) counts.set(`${r.type}/${r.health}`, Number(r.n));
      } catch (e) {
        // A scrape while Postgres is away still answers (process metrics); the gauge is left out.
        ctx.logger.warn({ err: e }, 'cannot count proplets for /metrics');
        this.reset();
        return;
      }
      for (const type of types) for (const health of REST_HEALTH) this.set({ type, health }, counts.get(`${type}/${health}`) ?? 0);
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics: propeller_proplets_total{type, health} from the read model, request counters, process metrics',
    tag: 'meta',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain; version=0.0.4' }, 500: { description: 'Internal error', schema: ErrorJsonSchema } },
    handler: async (_request, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metricsText()),
  });
}
