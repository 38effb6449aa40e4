import { jetstreamManager } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { z } from 'zod';
import { parseStoredEvent, SITE_LABEL } from '@propeller/events';
import { decodeEnvelope, openOnce } from '@propeller/eventstore';
import type { ApiContext } from '../app';
import { parseRequest } from '../http-errors';
import { COMMON_ERRORS, ErrorJsonSchema } from '../routes';

const pageParam = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer from ${min} to ${max}`)
    .optional()
    .describe(what);

/** `GET /sites` query: `offset` default 0, `limit` default 100 (1..1000). */
export const ListSitesQuerySchema = z.strictObject({
  offset: pageParam(0, Number.MAX_SAFE_INTEGER, 'Sites to skip (default 0)'),
  limit: pageParam(1, 1000, 'Page size (default 100, at most 1000)'),
});

/** Path parameter `site` (the value of the `propeller.io/site` label). */
export const SiteParamsSchema = z.strictObject({ site: z.string().min(1, 'must be a non-empty string').max(200, 'must be at most 200 characters') });

/** The evacuation breaker of one site, from its last event. */
export const EvacuationJsonSchema = z.object({
  paused: z.boolean(),
  paused_at: z.iso.datetime().optional(),
  share: z.number().optional().describe('(offline + failed) / total when paused or resumed'),
  threshold: z.number().optional(),
  resumed_at: z.iso.datetime().optional(),
  resumed_by: z.enum(['operator', 'breakerWindow']).optional(),
});

/** One site: its proplets by health and its evacuation breaker. */
export const SiteJsonSchema = z.object({
  site: z.string(),
  proplets: z.object({ total: z.number().int(), unknown: z.number().int(), healthy: z.number().int(), offline: z.number().int(), failed: z.number().int() }),
  evacuation: EvacuationJsonSchema,
});
type SiteJson = z.infer<typeof SiteJsonSchema>;

/** `GET /sites` answer. */
export const SitePageJsonSchema = z.object({ offset: z.number().int(), limit: z.number().int(), total: z.number().int(), sites: z.array(SiteJsonSchema) });

/** `GET /sites` and `POST /sites/{site}/evacuation/resume`. */
export function registerSiteRoutes(ctx: ApiContext): void {
  const manager = openOnce(() => jetstreamManager(ctx.nc));

  /** The breaker state from the site's last event (the Site aggregate has no read model; one lookup per site). */
  async function evacuation(site: string): Promise<SiteJson['evacuation']> {
    const last = await (await manager()).streams.getMessage(ctx.names.stream, { last_by_subj: ctx.names.eventSubject('site', site) }).catch((e: unknown) => {
      if ((e as { code?: unknown }).code === 10037 || /no message found/i.test(String((e as Error).message))) return null;
      throw e;
    });
    if (!last) return { paused: false };
    const event = parseStoredEvent(decodeEnvelope(last.data, last.seq));
    if (event.type === 'SiteEvacuationPaused') {
      return { paused: true, paused_at: event.data.pausedAt, share: event.data.share, threshold: event.data.threshold };
    }
    if (event.type === 'SiteEvacuationResumed') {
      return { paused: false, resumed_at: event.data.resumedAt, resumed_by: event.data.by, ...(event.data.share === undefined ? {} : { share: event.data.share }) };
    }
    return { paused: false };
  }

  async function counts(only?: string): Promise<Map<string, SiteJson['proplets']>> {
    const rows = await sql<{ site: string; health: string; n: number }>`
      select labels->>${SITE_LABEL} as site, health, count(*)::int as n from proplets
      where labels ? ${SITE_LABEL} ${only === undefined ? sql`` : sql`and labels->>${SITE_LABEL} = ${only}`}
      group by 1, 2 order by 1`.execute(ctx.db);
    const out = new Map<string, SiteJson['proplets']>();
    for (const r of rows.rows) {
      const c = out.get(r.site) ?? { total: 0, unknown: 0, healthy: 0, offline: 0, failed: 0 };
      c[r.health as 'unknown'] = Number(r.n);
      c.total += Number(r.n);
      out.set(r.site, c);
    }
    return out;
  }

  const empty = { total: 0, unknown: 0, healthy: 0, offline: 0, failed: 0 };

  ctx.routes.add({
    method: 'GET',
    url: '/sites',
    summary: "Sites (values of the propeller.io/site label): proplets by health and the evacuation breaker",
    tag: 'sites',
    query: ListSitesQuerySchema,
    responses: { 200: { description: 'A page of sites in name order', schema: SitePageJsonSchema }, ...COMMON_ERRORS },
    handler: async (request) => {
      const q = parseRequest(ListSitesQuerySchema, request.query ?? {}, 'query', ['offset', 'limit']);
      const offset = q.offset ?? 0;
      const limit = q.limit ?? 100;
      const all = [...(await counts()).entries()];
      const page = all.slice(offset, offset + limit);
      const sites = await Promise.all(page.map(async ([site, proplets]) => ({ site, proplets, evacuation: await evacuation(site) })));
      return { offset, limit, total: all.length, sites };
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/sites/:site/evacuation/resume',
    summary: "Resume a site's paused evacuation (an operator's decision; idempotent)",
    tag: 'sites',
    params: SiteParamsSchema,
    responses: {
      200: { description: 'The site with its breaker resumed', schema: SiteJsonSchema },
      503: { description: 'NotLeader: the registry refused as not leader (retry later)', schema: ErrorJsonSchema },
      ...COMMON_ERRORS,
    },
    handler: async (request) => {
      const { site } = parseRequest(SiteParamsSchema, request.params, 'params', ['site']);
      // The breaker lives in the Site aggregate (no read model): its last event is visible as soon as the command answers.
      await ctx.send('site.resumeEvacuation', { site, by: 'operator' }, request);
      return { site, proplets: (await counts(site)).get(site) ?? empty, evacuation: await evacuation(site) };
    },
  });
}
