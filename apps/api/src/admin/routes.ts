import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES, NotFoundError } from '@propeller/events';
import { isStreamNotFound, listDeadLetters, openOnce, type StoredDeadLetter } from '@propeller/eventstore';
import type { ApiContext } from '../app';
import { parseRequest, toErrorAnswer } from '../http-errors';
import { COMMON_ERRORS, ErrorJsonSchema } from '../routes';
import { rebuildSubject, replaySubject, sendAdminRequest } from '@propeller/eventstore';

const TOKEN_RULE = 'must be 1-100 characters of [A-Za-z0-9_-]';
const token = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, TOKEN_RULE);
const seqParam = z
  .string()
  .regex(/^[1-9]\d{0,15}$/, 'must be a positive integer (the dead letter seq from GET /admin/dlq)')
  .transform(Number);

/** `GET /admin/dlq` query: `consumer` filter, `offset` default 0, `limit` default 100 (1..1000). */
export const ListDeadLettersQuerySchema = z.strictObject({
  consumer: token.optional().describe('Only this consumer (process manager)'),
  offset: z.string().regex(/^\d+$/, 'must be an integer >= 0').transform(Number).optional().describe('Letters to skip (default 0)'),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be an integer from 1 to 1000')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, 'must be an integer from 1 to 1000')
    .optional()
    .describe('Page size (default 100, at most 1000)'),
});

/** Path of `POST /admin/dlq/{consumer}/{seq}/replay`. */
export const ReplayParamsSchema = z.strictObject({ consumer: token, seq: seqParam });
/** Path of `POST /admin/dlq/{seq}/replay` (the seq names the letter, hence its consumer). */
export const ReplayBySeqParamsSchema = z.strictObject({ seq: seqParam });
/** Path of `POST /admin/projections/{name}/rebuild`. */
export const ProjectionParamsSchema = z.strictObject({ name: token });

/** One dead letter in REST form. */
export const DeadLetterJsonSchema = z.object({
  consumer: z.string(),
  seq: z.number().int().describe('Position in the dead-letter queue: what replay takes'),
  event_seq: z.number().int().describe('Stream sequence of the event'),
  subject: z.string(),
  type: z.string().nullable(),
  aggregate: z.string().nullable(),
  aggregate_id: z.string().nullable(),
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }),
  attempts: z.number().int(),
  dead_at: z.iso.datetime(),
});
/** `GET /admin/dlq` answer. */
export const DeadLetterPageJsonSchema = z.object({ offset: z.number().int(), limit: z.number().int(), total: z.number().int(), dead_letters: z.array(DeadLetterJsonSchema) });
/** Answer of a replay. */
export const ReplayJsonSchema = z.object({ replayed: z.literal(true), consumer: z.string(), seq: z.number().int() });
/** Answer of a rebuild. */
export const RebuildJsonSchema = z.object({ projection: z.string(), status: z.literal('rebuilding').describe('The read model was emptied and is replaying from the start of the log') });

const deadLetterJson = (d: StoredDeadLetter): z.infer<typeof DeadLetterJsonSchema> => ({
  consumer: d.consumer,
  seq: d.dlqSeq,
  event_seq: d.seq,
  subject: d.subject,
  type: d.type,
  aggregate: d.envelope?.aggregate ?? null,
  aggregate_id: d.envelope?.aggregateId ?? null,
  error: { code: d.error.code, message: d.error.message },
  attempts: d.attempts,
  dead_at: d.deadAt,
});

const noOwner = {
  description: 'No service answered the admin request (the owning service is not running or does not serve admin requests); details.subject names it',
  schema: ErrorJsonSchema,
};

/** `GET /admin/dlq`, `POST /admin/dlq/{consumer}/{seq}/replay` (and `/admin/dlq/{seq}/replay`), `POST /admin/projections/{name}/rebuild`. */
export function registerAdminRoutes(ctx: ApiContext): void {
  const manager = openOnce(() => jetstreamManager(ctx.nc));
  const dlqHead = `${ctx.names.prefix}.dlq.`;

  /** Consumers that have dead letters now (the DLQ stream's subjects). */
  async function consumers(): Promise<string[]> {
    try {
      const info = await (await manager()).streams.info(ctx.names.dlqStream, { subjects_filter: `${dlqHead}>` });
      return Object.keys(info.state.subjects ?? {})
        .map((s) => s.slice(dlqHead.length))
        .sort();
    } catch (e) {
      if (isStreamNotFound(e)) return [];
      throw e;
    }
  }

  /** A missing admin responder is 503 (retry once the owning service runs), not a bug of the API (500). */
  async function answerAdmin(reply: FastifyReply, work: () => Promise<unknown>): Promise<unknown> {
    try {
      return await work();
    } catch (e) {
      const reason = (e as { details?: { reason?: unknown } }).details?.reason;
      if (reason !== 'noResponders' && reason !== 'timeout') throw e;
      return reply.code(503).send(toErrorAnswer(e).body);
    }
  }

  async function replay(reply: FastifyReply, consumer: string, seq: number): Promise<unknown> {
    // 404 here, before asking the owner: the letter must exist and belong to this consumer.
    const stored = await (await manager()).streams.getMessage(ctx.names.dlqStream, { seq }).catch((e: unknown) => {
      if ((e as { code?: unknown }).code === 10037 || /no message found/i.test(String((e as Error).message))) return null;
      throw e;
    });
    if (stored === null || stored.subject !== ctx.names.dlqSubject(consumer)) {
      throw new NotFoundError(`no dead letter ${seq} for consumer ${consumer}`, { details: { consumer, seq } });
    }
    return answerAdmin(reply, async () => {
      await sendAdminRequest(ctx.nc, replaySubject(ctx.names, consumer), { dlqSeq: seq });
      return { replayed: true, consumer, seq };
    });
  }

  ctx.routes.add({
    method: 'GET',
    url: '/admin/dlq',
    summary: 'Dead letters: events a process manager gave up on, with their error, oldest first',
    tag: 'admin',
    query: ListDeadLettersQuerySchema,
    responses: { 200: { description: 'A page of dead letters', schema: DeadLetterPageJsonSchema }, ...COMMON_ERRORS },
    handler: async (request) => {
      const q = parseRequest(ListDeadLettersQuerySchema, request.query ?? {}, 'query', ['consumer', 'offset', 'limit']);
      const offset = q.offset ?? 0;
      const limit = q.limit ?? 100;
      const which = q.consumer === undefined ? await consumers() : [q.consumer];
      const letters = (await Promise.all(which.map((c) => listDeadLetters(ctx.nc, ctx.names, c).catch((e: unknown) => (isStreamNotFound(e) ? [] : Promise.reject(e))))))
        .flat()
        .sort((a, b) => a.dlqSeq - b.dlqSeq);
      return { offset, limit, total: letters.length, dead_letters: letters.slice(offset, offset + limit).map(deadLetterJson) };
    },
  });

  const replayResponses = {
    200: { description: 'Replayed by the owning consumer and removed from the queue', schema: ReplayJsonSchema },
    404: { description: 'No such dead letter for that consumer', schema: ErrorJsonSchema },
    503: noOwner,
    ...COMMON_ERRORS,
  };

  ctx.routes.add({
    method: 'POST',
    url: '/admin/dlq/:consumer/:seq/replay',
    summary: "Hand a dead letter back to its consumer's handler (through the owning service); it leaves the queue once handled",
    tag: 'admin',
    params: ReplayParamsSchema,
    responses: replayResponses,
    handler: async (request, reply) => {
      const { consumer, seq } = parseRequest(ReplayParamsSchema, request.params, 'params', ['consumer', 'seq']);
      return replay(reply, consumer, seq);
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/admin/dlq/:seq/replay',
    summary: 'The same, naming the letter by its queue seq alone (the consumer is read from the letter)',
    tag: 'admin',
    params: ReplayBySeqParamsSchema,
    responses: replayResponses,
    handler: async (request, reply) => {
      const { seq } = parseRequest(ReplayBySeqParamsSchema, request.params, 'params', ['seq']);
      const stored = await (await manager()).streams.getMessage(ctx.names.dlqStream, { seq }).catch(() => null);
      if (stored === null || !stored.subject.startsWith(dlqHead)) throw new NotFoundError(`no dead letter ${seq}`, { details: { seq } });
      return replay(reply, stored.subject.slice(dlqHead.length), seq);
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/admin/projections/:name/rebuild',
    summary: "Rebuild a read model from the event log (done by the projection's lease holder in the owning service)",
    tag: 'admin',
    params: ProjectionParamsSchema,
    responses: {
      200: { description: 'Emptied and replaying from the start; read models catch up as it goes', schema: RebuildJsonSchema },
      404: { description: 'The owning service has no such projection', schema: ErrorJsonSchema },
      503: noOwner,
      ...COMMON_ERRORS,
    },
    handler: async (request, reply) => {
      const { name } = parseRequest(ProjectionParamsSchema, request.params, 'params', ['name']);
      return answerAdmin(reply, async () => {
        await sendAdminRequest(ctx.nc, rebuildSubject(ctx.names, name), {});
        return { projection: name, status: 'rebuilding' };
      });
    },
  });
}
