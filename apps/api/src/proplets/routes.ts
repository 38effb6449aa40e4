import { Kvm } from '@nats-io/kv';
import type { FastifyReply } from 'fastify';
import { encodeKvToken, livenessKey, NotFoundError, PropletLivenessSchema, type CommandDataInput, type PropletLiveness } from '@propeller/events';
import { openOnce, type CommandOk } from '@propeller/eventstore';
import { getPropletOrThrow, listProplets, type PropletView } from '@propeller/read-models';
import type { ApiContext } from '../app';
import { PROPLETS_PROJECTION } from '../app';
import { parseRequest } from '../http-errors';
import { COMMON_ERRORS, ErrorJsonSchema } from '../routes';
import {
  AcceptedJsonSchema,
  CordonBodySchema,
  DeregisterQuerySchema,
  LIST_PROPLETS_PARAMS,
  ListPropletsQuerySchema,
  PATCH_PROPLET_FIELDS,
  PatchPropletBodySchema,
  PropletIdParamsSchema,
  PropletJsonSchema,
  PropletMetricsJsonSchema,
  PropletPageJsonSchema,
} from './schemas';
import { propletJson, propletPageJson } from './view';

/** Largest body of a proplet write (labels, capacity, ...): 64 KiB; larger answers 413. */
export const PROPLET_BODY_LIMIT = 64 * 1024;

/** Key of a proplet's latest metrics in `<p>_metrics` (as the mqtt-gateway writes it): `proplet.<encoded id>`. */
export const propletMetricsKey = (propletId: string): string => `proplet.${encodeKvToken(propletId, 'propletId')}`;

const notFound = { description: 'No such proplet (never registered, or deregistered)', schema: ErrorJsonSchema };
const accepted = { description: 'Accepted; the read model has not shown it within the read-your-writes timeout. See Location.', schema: AcceptedJsonSchema };
const unavailable = { description: 'NotLeader: the registry refused as not leader (retry later)', schema: ErrorJsonSchema };

/** `GET|PATCH|DELETE /proplets/...`, cordon/uncordon and the latest metrics. */
export function registerPropletRoutes(ctx: ApiContext): void {
  const idOf = (params: unknown): string => parseRequest(PropletIdParamsSchema, params, 'params', ['id']).id;
  const location = (id: string): string => `/proplets/${encodeURIComponent(id)}`;

  // The liveness KV (`<p>_liveness`), opened on first use and kept; a failed open is retried by the next request.
  const openLiveness = openOnce(() => new Kvm(ctx.nc).open(ctx.names.kv.liveness));
  /**
   * When the plane last heard from the proplet: its liveness KV entry, or null (never heard from, deleted
   * key, or a record this API cannot read — logged). A KV that does not answer fails the request (500):
   * an empty last_seen must mean "never heard from", not "could not look".
   */
  async function lastSeen(id: string): Promise<PropletLiveness | null> {
    const entry = await (await openLiveness()).get(livenessKey(id));
    if (entry === null || entry.length === 0 || entry.operation !== 'PUT') return null;
    let raw: unknown;
    try {
      raw = entry.json();
    } catch {
      raw = undefined;
    }
    const parsed = PropletLivenessSchema.safeParse(raw);
    if (!parsed.success) {
      ctx.logger.warn({ propletId: id, issues: parsed.error?.issues }, 'unreadable liveness record; last_seen left null');
      return null;
    }
    return parsed.data;
  }
  const oneJson = async (p: PropletView) => propletJson(p, ctx.now(), await lastSeen(p.id));

  /** Read-your-writes: the row once the projection shows the command, else 202 with Location. */
  async function answerWrite(reply: FastifyReply, id: string, ok: CommandOk) {
    if (!(await ctx.settled(PROPLETS_PROJECTION, ok))) {
      return reply.code(202).header('location', location(id)).send({ status: 'accepted', location: location(id), sequence: ok.lastSequence });
    }
    return oneJson(await getPropletOrThrow(ctx.db, id));
  }

  ctx.routes.add({
    method: 'GET',
    url: '/proplets',
    summary: 'List proplets with filters and paging',
    tag: 'proplets',
    query: ListPropletsQuerySchema,
    responses: { 200: { description: 'A page of proplets in id order; total counts every match', schema: PropletPageJsonSchema }, ...COMMON_ERRORS },
    handler: async (request) => {
      const q = parseRequest(ListPropletsQuerySchema, request.query ?? {}, 'query', LIST_PROPLETS_PARAMS);
      const page = await listProplets(ctx.db, {
        ...(q.offset === undefined ? {} : { offset: q.offset }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
        ...(q.type === undefined ? {} : { type: q.type }),
        ...(q.health === undefined ? {} : { health: q.health }),
        ...(q.device_type === undefined ? {} : { deviceType: q.device_type }),
        ...(q.capability === undefined ? {} : { capability: q.capability }),
        ...(q.label === undefined ? {} : { label: q.label }),
        ...(q.status === undefined ? {} : { status: q.status }),
      });
      // One KV get per row of the page, concurrently: a page is at most 1,000 rows (default 100).
      const seen = await Promise.all(page.proplets.map((p) => lastSeen(p.id)));
      return propletPageJson(page, ctx.now(), seen);
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/proplets/:id',
    summary: 'One proplet',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    responses: { 200: { description: 'The proplet', schema: PropletJsonSchema }, 404: notFound, ...COMMON_ERRORS },
    handler: async (request) => oneJson(await getPropletOrThrow(ctx.db, idOf(request.params))),
  });

  ctx.routes.add({
    method: 'PATCH',
    url: '/proplets/:id',
    summary: 'Set operator overrides (labels, capacity, device_type, capabilities; null clears one)',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    body: PatchPropletBodySchema,
    bodyLimit: PROPLET_BODY_LIMIT,
    responses: {
      200: { description: 'The proplet with the overrides applied', schema: PropletJsonSchema },
      202: accepted,
      404: notFound,
      413: { description: 'Body larger than 64 KiB', schema: ErrorJsonSchema },
      503: unavailable,
      ...COMMON_ERRORS,
    },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      const body = parseRequest(PatchPropletBodySchema, request.body, 'body', PATCH_PROPLET_FIELDS);
      const data: CommandDataInput<'proplet.label'> = { propletId: id };
      if (body.labels !== undefined) data.labels = body.labels;
      if (body.capacity !== undefined) data.capacity = body.capacity;
      if (body.device_type !== undefined) data.deviceType = body.device_type;
      if (body.capabilities !== undefined) data.capabilities = body.capabilities;
      return answerWrite(reply, id, await ctx.send('proplet.label', data, request));
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/proplets/:id/cordon',
    summary: 'Cordon: the proplet takes no new work (running tasks continue)',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    body: CordonBodySchema.optional(),
    bodyLimit: PROPLET_BODY_LIMIT,
    responses: { 200: { description: 'The cordoned proplet', schema: PropletJsonSchema }, 202: accepted, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      const body = parseRequest(CordonBodySchema.optional(), request.body, 'body', ['reason']);
      return answerWrite(reply, id, await ctx.send('proplet.cordon', { propletId: id, ...(body?.reason === undefined ? {} : { reason: body.reason }) }, request));
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/proplets/:id/uncordon',
    summary: 'Uncordon: the proplet takes new work again',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    responses: { 200: { description: 'The uncordoned proplet', schema: PropletJsonSchema }, 202: accepted, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      return answerWrite(reply, id, await ctx.send('proplet.uncordon', { propletId: id }, request));
    },
  });

  ctx.routes.add({
    method: 'DELETE',
    url: '/proplets/:id',
    summary: 'Deregister the proplet (it stays deleted until it sends create again)',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    query: DeregisterQuerySchema,
    responses: {
      204: { description: 'Deregistered; the proplet is gone from the read model' },
      202: accepted,
      404: notFound,
      409: { description: 'The proplet still has unfinished tasks (once the tasks API exists)', schema: ErrorJsonSchema },
      503: unavailable,
      ...COMMON_ERRORS,
    },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      const q = parseRequest(DeregisterQuerySchema, request.query ?? {}, 'query', ['reason']);
      // Refuse before anything is written; GET first so an unknown id is a plain 404.
      await getPropletOrThrow(ctx.db, id);
      await ctx.hooks.assertNoUnfinishedTasks(id);
      const ok = await ctx.send('proplet.deregister', { propletId: id, reason: q.reason ?? 'deregistered through the API' }, request);
      if (!(await ctx.settled(PROPLETS_PROJECTION, ok))) {
        return reply.code(202).header('location', location(id)).send({ status: 'accepted', location: location(id), sequence: ok.lastSequence });
      }
      return reply.code(204).send();
    },
  });

  const openMetrics = openOnce(() => new Kvm(ctx.nc).open(ctx.names.kv.metrics));

  ctx.routes.add({
    method: 'GET',
    url: '/proplets/:id/metrics',
    summary: 'The latest CPU and memory metrics the proplet reported',
    tag: 'proplets',
    params: PropletIdParamsSchema,
    responses: {
      200: { description: "The proplet's latest metrics message with its sample and receive times", schema: PropletMetricsJsonSchema },
      404: { description: 'The proplet has reported no metrics', schema: ErrorJsonSchema },
      ...COMMON_ERRORS,
    },
    handler: async (request) => {
      const id = idOf(request.params);
      const entry = await (await openMetrics()).get(propletMetricsKey(id));
      if (entry === null || entry.length === 0 || entry.operation !== 'PUT') {
        throw new NotFoundError(`proplet ${id} has reported no metrics`, { details: { propletId: id } });
      }
      const record = entry.json<{ propletId?: string; at?: string; receivedAt?: string; message?: unknown }>();
      const message = record.message !== null && typeof record.message === 'object' ? (record.message as Record<string, unknown>) : {};
      return { ...message, proplet_id: record.propletId ?? id, at: record.at, received_at: record.receivedAt };
    },
  });
}
