import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { DEFAULT_MODULE_MAX_BYTES, encodeKvToken, InvalidError, NotFoundError, TaskStatusSchema, type ModuleRef } from '@propeller/events';
import { ModuleStore, openOnce, type CommandOk } from '@propeller/eventstore';
import { getTask, getTaskEvents, getTaskOrThrow, getTasks, listTasks } from '@propeller/read-models';
import type { ApiContext } from '../app';
import { parseRequest, toErrorAnswer } from '../http-errors';
import { AcceptedJsonSchema } from '../proplets/schemas';
import { COMMON_ERRORS, ErrorJsonSchema } from '../routes';
import { checkUpload, isModuleTooLarge } from './module';
import {
  BatchBodySchema,
  BatchJsonSchema,
  CREATE_TASK_FIELDS,
  CreateTaskBodySchema,
  IdempotencyKeySchema,
  LIST_TASKS_PARAMS,
  ListTasksQuerySchema,
  MAX_BATCH,
  StopTaskBodySchema,
  TaskEventsJsonSchema,
  TaskEventsQuerySchema,
  TaskIdParamsSchema,
  TaskJsonSchema,
  TaskMetricsJsonSchema,
  TaskPageJsonSchema,
  TaskResultsJsonSchema,
  TASK_STATE,
  UPDATE_TASK_FIELDS,
  UpdateTaskBodySchema,
  type CreateTaskBody,
} from './schemas';
import { createTaskData, taskIdForKey, taskJson, taskPageJson, updateTaskData } from './view';

/** Name of the projection that writes the `tasks` read model (served by the scheduler). */
export const TASKS_PROJECTION = 'tasks';
/** Gauge of tasks by status, computed from the read model at scrape time. */
export const TASKS_TOTAL_METRIC = 'propeller_tasks_total';

/** Largest body of a task write that can carry a module of `moduleMaxBytes`: its base64 plus 1 MiB for the rest. */
export const taskBodyLimit = (moduleMaxBytes: number): number => Math.ceil(moduleMaxBytes / 3) * 4 + 1024 * 1024;

/** Options of the tasks routes. */
export interface TaskRoutesOptions {
  /** `MODULE_MAX_BYTES` (default 16 MiB): a larger `file` answers 413. */
  moduleMaxBytes?: number;
}

/** The answer of a batch that was accepted but is not all visible yet (202). */
export const BatchAcceptedJsonSchema = z.object({
  status: z.literal('accepted'),
  task_ids: z.array(z.string()).describe('The ids in request order; GET /tasks/{id} each later'),
  sequence: z.number().int().describe('Stream sequence the read model has not reached yet'),
});

const notFound = { description: 'No such task (never created, deleted or archived)', schema: ErrorJsonSchema };
const accepted = { description: 'Accepted; the read model has not shown it within the read-your-writes timeout. See Location.', schema: AcceptedJsonSchema };
const conflict = { description: 'The task state forbids it (e.g. PUT after start, stop of a finished task, a reused Idempotency-Key with another body)', schema: ErrorJsonSchema };
const unavailable = { description: 'NotLeader, or Postgres unavailable: retry later', schema: ErrorJsonSchema };
const tooLarge = { description: 'The module is over MODULE_MAX_BYTES, or the body over its limit', schema: ErrorJsonSchema };

const location = (id: string): string => `/tasks/${encodeURIComponent(id)}`;

/** Folds several command replies into one, so read-your-writes waits once for the highest sequence. */
function merged(replies: readonly CommandOk[]): CommandOk {
  const sequences = replies.flatMap((r) => r.sequences);
  return { ok: true, aggregateId: replies[0]?.aggregateId ?? '', sequences, lastSequence: Math.max(0, ...replies.map((r) => r.lastSequence)) };
}

/**
 * The tasks routes: create (single and batch, with `Idempotency-Key`), list, get, update while not
 * started, delete, start, stop, results, timeline and latest metrics; `propeller_tasks_total{status}`.
 * Writes answer once the `tasks` read model shows them (else 202 with `Location`).
 */
export function registerTaskRoutes(ctx: ApiContext, o: TaskRoutesOptions = {}): void {
  const maxBytes = o.moduleMaxBytes ?? DEFAULT_MODULE_MAX_BYTES;
  const bodyLimit = taskBodyLimit(maxBytes);
  const idOf = (params: unknown): string => parseRequest(TaskIdParamsSchema, params, 'params', ['id']).id;

  const modules = openOnce(() => new Objm(ctx.nc).open(ctx.names.modules));
  const openMetrics = openOnce(() => new Kvm(ctx.nc).open(ctx.names.kv.metrics));

  // Content-addressed, once per digest, no lookup for a digest already stored (a batch of 100 copies of one module stores it once).
  const moduleStore = new ModuleStore(modules);
  /** Checks every upload of a request before anything is stored or sent, then stores them by digest. */
  async function uploads(bodies: ReadonlyArray<{ file?: string | undefined }>, field: (i: number) => string): Promise<Array<ModuleRef | undefined>> {
    const checked = bodies.map((b, i) => (b.file === undefined ? undefined : checkUpload(b.file, maxBytes, field(i))));
    return Promise.all(checked.map((c) => (c === undefined ? undefined : moduleStore.put(c))));
  }

  function idempotencyKey(request: FastifyRequest): string | undefined {
    const raw = request.headers['idempotency-key'];
    if (raw === undefined) return undefined;
    const parsed = IdempotencyKeySchema.safeParse(raw);
    if (!parsed.success) throw InvalidError.field('Idempotency-Key', raw, parsed.error.issues[0]?.message ?? 'must be one printable ASCII string');
    return parsed.data;
  }

  /** Read-your-writes: `status` with the row once the projection shows the command(s), else 202 with Location. */
  async function answerWrite(reply: FastifyReply, id: string, ok: CommandOk, status = 200) {
    const visible = (await ctx.settled(TASKS_PROJECTION, ok)) ? await getTask(ctx.db, id) : undefined;
    // A no-op retry answers at once; its row may still be behind an earlier write that answered 202.
    if (visible === undefined) {
      return reply.code(202).header('location', location(id)).send({ status: 'accepted', location: location(id), sequence: ok.lastSequence });
    }
    if (status === 201) reply.header('location', location(id));
    return reply.code(status).send(taskJson(visible));
  }

  /** A module over MODULE_MAX_BYTES is 413 (the error says which field, the size and the limit); the rest as usual. */
  const withModuleLimit =
    (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      try {
        return await handler(request, reply);
      } catch (e) {
        if (!isModuleTooLarge(e)) throw e;
        return reply.code(413).send(toErrorAnswer(e).body);
      }
    };

  /** The create command's data (which also starts the task when asked: one command, placed by the scheduler leader inside it). */
  const createData = (id: string, body: CreateTaskBody, module: ModuleRef | undefined) => ({ ...createTaskData(id, body, module), ...(body.start === true ? { start: true } : {}) });

  ctx.routes.add({
    method: 'POST',
    url: '/tasks',
    summary: 'Create a task (upstream-compatible); it waits for POST /tasks/{id}/start unless "start": true. Idempotency-Key makes a retry create nothing twice.',
    tag: 'tasks',
    body: CreateTaskBodySchema,
    bodyLimit,
    responses: {
      201: { description: 'Created (or the same request again with the same Idempotency-Key); Location names the task', schema: TaskJsonSchema },
      202: accepted,
      409: conflict,
      413: tooLarge,
      503: unavailable,
      ...COMMON_ERRORS,
    },
    handler: withModuleLimit(async (request, reply) => {
      const body = parseRequest(CreateTaskBodySchema, request.body, 'body', CREATE_TASK_FIELDS);
      const key = idempotencyKey(request);
      const id = key === undefined ? randomUUID() : taskIdForKey(key);
      const [module] = await uploads([body], () => 'file');
      const created = await ctx.send('task.create', createData(id, body, module), request);
      if (created.sequences.length === 0) reply.header('idempotent-replayed', 'true');
      return answerWrite(reply, id, created, 201);
    }),
  });

  ctx.routes.add({
    method: 'POST',
    url: '/tasks/batch',
    summary: `Create up to ${MAX_BATCH} tasks in one request ({tasks: [...]}, each as POST /tasks takes it); with Idempotency-Key item i is keyed <key>/<i>`,
    tag: 'tasks',
    body: BatchBodySchema,
    bodyLimit,
    responses: {
      201: { description: 'Every task, in request order', schema: BatchJsonSchema },
      202: { description: 'Accepted; not all visible within the read-your-writes timeout', schema: BatchAcceptedJsonSchema },
      409: conflict,
      413: tooLarge,
      503: unavailable,
      ...COMMON_ERRORS,
    },
    handler: withModuleLimit(async (request, reply) => {
      // Every item is validated (and every module checked) before the first task is created.
      const { tasks } = parseRequest(BatchBodySchema, request.body, 'body', ['tasks']);
      const key = idempotencyKey(request);
      const ids = tasks.map((_t, i) => (key === undefined ? randomUUID() : taskIdForKey(key, i)));
      const refs = await uploads(tasks, (i) => `tasks.${i}.file`);
      // One message to the scheduler for the whole batch (one create per item, run there at once).
      const outcomes = await ctx.sendMany(
        'task.create',
        tasks.map((body, i) => createData(ids[i] as string, body, refs[i])),
        request,
      );
      const failed = outcomes.findIndex((o) => o.status === 'rejected');
      if (failed >= 0) {
        // The first item that failed, and which; the others were created, and a retry with the same Idempotency-Key is safe.
        const e = (outcomes[failed] as PromiseRejectedResult).reason as unknown;
        const details = (e as { details?: Record<string, unknown> }).details;
        if (details !== undefined) Object.assign(details, { index: failed, taskId: ids[failed] });
        throw e;
      }
      const all = merged(outcomes.map((o) => (o as PromiseFulfilledResult<CommandOk>).value));
      if (await ctx.settled(TASKS_PROJECTION, all)) {
        const rows = await getTasks(ctx.db, ids);
        if (rows.every((r) => r !== undefined)) return reply.code(201).send({ tasks: rows.map((r) => taskJson(r as NonNullable<typeof r>)) });
      }
      return reply.code(202).send({ status: 'accepted', task_ids: ids, sequence: all.lastSequence });
    }),
  });

  ctx.routes.add({
    method: 'GET',
    url: '/tasks',
    summary: 'List tasks, oldest first, with filters and paging',
    tag: 'tasks',
    query: ListTasksQuerySchema,
    responses: { 200: { description: 'A page of tasks; total counts every match', schema: TaskPageJsonSchema }, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request) => {
      const q = parseRequest(ListTasksQuerySchema, request.query ?? {}, 'query', LIST_TASKS_PARAMS);
      const page = await listTasks(ctx.db, {
        ...(q.offset === undefined ? {} : { offset: q.offset }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.proplet_id === undefined ? {} : { propletId: q.proplet_id }),
      });
      return taskPageJson(page);
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/tasks/:id',
    summary: 'One task',
    tag: 'tasks',
    params: TaskIdParamsSchema,
    responses: { 200: { description: 'The task', schema: TaskJsonSchema }, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request) => taskJson(await getTaskOrThrow(ctx.db, idOf(request.params))),
  });

  ctx.routes.add({
    method: 'PUT',
    url: '/tasks/:id',
    summary: 'Change a task that has not been started (each field given replaces the old value); 409 once started',
    tag: 'tasks',
    params: TaskIdParamsSchema,
    body: UpdateTaskBodySchema,
    bodyLimit,
    responses: { 200: { description: 'The changed task', schema: TaskJsonSchema }, 202: accepted, 404: notFound, 409: conflict, 413: tooLarge, 503: unavailable, ...COMMON_ERRORS },
    handler: withModuleLimit(async (request, reply) => {
      const id = idOf(request.params);
      const body = parseRequest(UpdateTaskBodySchema, request.body, 'body', UPDATE_TASK_FIELDS);
      const [module] = await uploads([body], () => 'file');
      return answerWrite(reply, id, await ctx.send('task.update', updateTaskData(id, body, module), request));
    }),
  });

  ctx.routes.add({
    method: 'DELETE',
    url: '/tasks/:id',
    summary: 'Delete a task (an attempt on a proplet is stopped); it leaves the read model',
    tag: 'tasks',
    params: TaskIdParamsSchema,
    responses: { 204: { description: 'Deleted; the task is gone from the read model' }, 202: accepted, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      const ok = await ctx.send('task.delete', { taskId: id }, request);
      if (!(await ctx.settled(TASKS_PROJECTION, ok))) {
        return reply.code(202).header('location', location(id)).send({ status: 'accepted', location: location(id), sequence: ok.lastSequence });
      }
      return reply.code(204).send();
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/tasks/:id/start',
    summary: 'Start a created task (it becomes pending and is placed on a proplet); starting a started task changes nothing',
    tag: 'tasks',
    params: TaskIdParamsSchema,
    responses: { 200: { description: 'The started task', schema: TaskJsonSchema }, 202: accepted, 404: notFound, 409: conflict, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      return answerWrite(reply, id, await ctx.send('task.start', { taskId: id }, request));
    },
  });

  ctx.routes.add({
    method: 'POST',
    url: '/tasks/:id/stop',
    summary: 'Stop a task wherever it is (terminal; a running attempt is told to stop)',
    tag: 'tasks',
    params: TaskIdParamsSchema,
    body: StopTaskBodySchema.optional(),
    responses: { 200: { description: 'The stopped task', schema: TaskJsonSchema }, 202: accepted, 404: notFound, 409: conflict, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request, reply) => {
      const id = idOf(request.params);
      const body = parseRequest(StopTaskBodySchema.optional(), request.body, 'body', ['reason']);
      return answerWrite(reply, id, await ctx.send('task.stop', { taskId: id, ...(body?.reason === undefined ? {} : { reason: body.reason }) }, request));
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/tasks/:id/results',
    summary: "The task's result (any JSON, as reported) or error",
    tag: 'tasks',
    params: TaskIdParamsSchema,
    responses: { 200: { description: 'The result; results is null until completed', schema: TaskResultsJsonSchema }, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request) => {
      const t = await getTaskOrThrow(ctx.db, idOf(request.params));
      return {
        task_id: t.id,
        status: t.status,
        state: TASK_STATE[t.status],
        results: t.results,
        error: t.error,
        failure_reason: t.failureReason,
        proplet_id: t.propletId,
        attempt: t.attempt,
        finished_at: t.finishedAt,
      };
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/tasks/:id/events',
    summary: "The task's timeline, oldest first (one entry per event)",
    tag: 'tasks',
    params: TaskIdParamsSchema,
    query: TaskEventsQuerySchema,
    responses: { 200: { description: 'The timeline', schema: TaskEventsJsonSchema }, 404: notFound, 503: unavailable, ...COMMON_ERRORS },
    handler: async (request) => {
      const id = idOf(request.params);
      const q = parseRequest(TaskEventsQuerySchema, request.query ?? {}, 'query', ['offset', 'limit']);
      const offset = q.offset ?? 0;
      const limit = q.limit ?? 1000;
      const events = await getTaskEvents(ctx.db, id);
      return { task_id: id, offset, limit, total: events.length, events: events.slice(offset, offset + limit) };
    },
  });

  ctx.routes.add({
    method: 'GET',
    url: '/tasks/:id/metrics',
    summary: "The latest resource use reported for the task's current attempt",
    tag: 'tasks',
    params: TaskIdParamsSchema,
    responses: {
      200: { description: 'The task_metrics message with its sample and receive times', schema: TaskMetricsJsonSchema },
      404: { description: 'No such task, or no metrics reported for its current attempt', schema: ErrorJsonSchema },
      ...COMMON_ERRORS,
    },
    handler: async (request) => {
      const t = await getTaskOrThrow(ctx.db, idOf(request.params));
      // The gateway keys task metrics by the wire id the proplet echoes: the current attempt's.
      const wireId = t.wireId ?? t.id;
      const entry = await (await openMetrics()).get(`task.${encodeKvToken(wireId, 'taskId')}`);
      if (entry === null || entry.length === 0 || entry.operation !== 'PUT') {
        throw new NotFoundError(`task ${t.id} has no metrics for attempt ${t.attempt}`, { details: { taskId: t.id, wireId } });
      }
      const record = entry.json<{ propletId?: string; at?: string; receivedAt?: string; message?: unknown }>();
      const message = record.message !== null && typeof record.message === 'object' ? (record.message as Record<string, unknown>) : {};
      return { ...message, task_id: t.id, wire_id: wireId, ...(record.propletId === undefined ? {} : { proplet_id: record.propletId }), at: record.at, received_at: record.receivedAt };
    },
  });

  const statuses = TaskStatusSchema.options;
  ctx.metrics.gauge({
    name: TASKS_TOTAL_METRIC,
    help: 'Tasks in the read model, by status (deleted and archived tasks are not counted)',
    labelNames: ['status'] as const,
    async collect() {
      const counts = new Map<string, number>();
      try {
        const rows = await sql<{ status: string; n: number }>`select status, count(*)::int as n from tasks group by status`.execute(ctx.db);
        for (const r of rows.rows) counts.set(r.status, Number(r.n));
      } catch (e) {
        // Postgres away, or the scheduler has not created the table yet: the scrape still answers, without the gauge.
        ctx.logger.warn({ err: e }, 'cannot count tasks for /metrics');
        this.reset();
        return;
      }
      // Every status is written, so a count that drops to zero shows 0 rather than its last value.
      for (const status of statuses) this.set({ status }, counts.get(status) ?? 0);
    },
  });
}
