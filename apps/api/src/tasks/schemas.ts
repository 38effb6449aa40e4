import { z } from 'zod';
import { LabelsSchema, PreferredPropletTypeSchema, PropletTypeSchema, QuantitySchema, TaskStatusSchema, type TaskStatus } from '@propeller/events';

/**
 * The REST shapes of the tasks routes, in snake_case and upstream-compatible (ARCHITECTURE.md "Names on
 * each layer"): a task answers its domain `status` plus upstream's numeric `state`. Requests are validated
 * with these schemas and `/openapi.json` is generated from them.
 */

/** Most tasks in one `POST /tasks/batch`. */
export const MAX_BATCH = 100;

const nonEmpty = z.string().min(1, 'must be a non-empty string');
const idString = nonEmpty.refine((s) => Buffer.byteLength(s, 'utf8') <= 200, 'must be at most 200 bytes');

// `1h30m`, `30s`, `1500ms`, `2.5m`: a sequence of number+unit; the rule text is what a client sees.
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Rule of the `timeout` field. */
export const DURATION_RULE = 'must be a duration such as 30s, 10m, 1h30m or 1500ms (at least 1ms), or null for none';

/** Milliseconds of a duration string (`1h30m` → 5400000); `undefined` when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

const DurationSchema = z.string().refine((s) => {
  const ms = parseDurationMs(s);
  return ms !== undefined && ms >= 1;
}, DURATION_RULE);

/** Hard placement rules (all must hold), snake_case of the domain `PropletSelector`. */
export const PropletSelectorJsonSchema = z.strictObject({
  proplet_id: idString.optional().describe('Pin to this proplet (same as the top-level proplet_id)'),
  match_types: z.array(PropletTypeSchema).optional().describe('k8s and/or external'),
  match_device_types: z.array(nonEmpty).optional(),
  match_capabilities: z.array(nonEmpty).optional().describe('The proplet must have every one'),
  match_labels: LabelsSchema.optional().describe('The proplet must carry every label with that value'),
});

/** Resources a task needs (Kubernetes quantities). */
export const ResourcesJsonSchema = z.strictObject({ cpu: QuantitySchema.optional(), memory: QuantitySchema.optional() });

const specFields = {
  name: z.string().min(1, 'must be a non-empty string').max(253, 'must be at most 253 characters').describe('Task name; also the export to call unless function_name is set (upstream)'),
  function_name: z.string().min(1, 'must be a non-empty string').max(253, 'must be at most 253 characters').optional().describe('The Wasm export to call (default: name)'),
  file: z.string().min(1, 'must be a non-empty base64 string of a Wasm module').optional().describe('The Wasm module, base64 (at most MODULE_MAX_BYTES decoded, else 413)'),
  image_url: z.string().min(1, 'must be a non-empty string').max(2048, 'must be at most 2048 characters').optional().describe('Fetch the module from this URL instead of uploading it'),
  inputs: z.array(z.union([z.string(), z.number()], { error: 'must be a string or a number' })).optional().describe('Arguments of the export'),
  cli_args: z.array(z.string()).optional(),
  env: z.record(nonEmpty, z.string()).optional(),
  daemon: z.boolean().optional().describe('Keeps running after a success result (default false; no timeout)'),
  proplet_id: idString.optional().describe("Upstream's pin: run only on this proplet"),
  proplet_selector: PropletSelectorJsonSchema.optional(),
  preferred_proplet_type: PreferredPropletTypeSchema.optional().describe('A preference, not a rule (default any)'),
  resource_requirements: ResourcesJsonSchema.optional(),
  max_attempts: z.number().int('must be an integer from 1 to 100').min(1, 'must be an integer from 1 to 100').max(100, 'must be an integer from 1 to 100').optional().describe('Attempts before the task fails (default 3)'),
  timeout: DurationSchema.nullable().optional().describe('Per-attempt timeout from dispatch (default 10m; none for daemons; null = none)'),
  labels: LabelsSchema.optional(),
};

const pinsAgree = (b: { proplet_id?: string | undefined; proplet_selector?: { proplet_id?: string | undefined } | undefined }): boolean =>
  b.proplet_id === undefined || b.proplet_selector?.proplet_id === undefined || b.proplet_id === b.proplet_selector.proplet_id;
const pinsRule = { message: 'must equal proplet_selector.proplet_id when both are set', path: ['proplet_id'] };

/** `POST /tasks` body: exactly one of `file` or `image_url`; `start: true` starts it at once. Unknown fields are refused. */
export const CreateTaskBodySchema = z
  .strictObject({ ...specFields, start: z.boolean().optional().describe('Start at once (default false: the task waits for POST /tasks/{id}/start)') })
  .refine((b) => (b.file === undefined) !== (b.image_url === undefined), { message: 'set exactly one of file or image_url', path: ['file'] })
  .refine(pinsAgree, pinsRule);
/** A parsed `POST /tasks` body. */
export type CreateTaskBody = z.output<typeof CreateTaskBodySchema>;
/** Fields `POST /tasks` accepts. */
export const CREATE_TASK_FIELDS: readonly string[] = [...Object.keys(specFields), 'start'];

/** `PUT /tasks/{id}` body: any spec field (each replaces the old value), while the task has not been started. */
export const UpdateTaskBodySchema = z
  .strictObject(specFields)
  .partial()
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: `must set at least one of ${Object.keys(specFields).join(', ')}` })
  .refine((b) => b.file === undefined || b.image_url === undefined, { message: 'set at most one of file or image_url', path: ['file'] })
  .refine(pinsAgree, pinsRule);
/** A parsed `PUT /tasks/{id}` body. */
export type UpdateTaskBody = z.output<typeof UpdateTaskBodySchema>;
/** Fields `PUT /tasks/{id}` accepts. */
export const UPDATE_TASK_FIELDS: readonly string[] = Object.keys(specFields);

/** `POST /tasks/batch` body: `{tasks: [...]}`, 1 to 100 task bodies as `POST /tasks` takes them. */
export const BatchBodySchema = z.strictObject({
  tasks: z.array(CreateTaskBodySchema).min(1, `must hold 1 to ${MAX_BATCH} tasks`).max(MAX_BATCH, `must hold 1 to ${MAX_BATCH} tasks`),
});

const intParam = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer from ${min} to ${max}`)
    .optional()
    .describe(what);

const STATUS_RULE = `must be one of ${TaskStatusSchema.options.join(', ')}`;
/** `GET /tasks` query: filters combine with AND; `offset` default 0, `limit` default 100 (1..1000). */
export const ListTasksQuerySchema = z.strictObject({
  // Checked in the transform rather than by a union of enums, whose error would only say "Invalid input".
  status: z
    .union([z.string(), z.array(z.string())])
    .transform((v, ctx) => {
      const list = Array.isArray(v) ? v : [v];
      for (const s of list) if (!TaskStatusSchema.safeParse(s).success) ctx.addIssue({ code: 'custom', message: STATUS_RULE, input: s });
      return list as TaskStatus[];
    })
    .optional()
    .describe('One status or several (any of them)'),
  proplet_id: idString.optional().describe('Tasks whose current (or last) attempt is on this proplet'),
  offset: intParam(0, Number.MAX_SAFE_INTEGER, 'Rows to skip (default 0)'),
  limit: intParam(1, 1000, 'Page size (default 100, at most 1000)'),
});
/** Names of the `GET /tasks` query parameters. */
export const LIST_TASKS_PARAMS = Object.keys(ListTasksQuerySchema.shape);

/** `GET /tasks/{id}/events` query. */
export const TaskEventsQuerySchema = z.strictObject({
  offset: intParam(0, Number.MAX_SAFE_INTEGER, 'Entries to skip (default 0)'),
  limit: intParam(1, 1000, 'Page size (default 1000, at most 1000)'),
});

/** Path parameter `id`: a task id (a UUID). */
export const TaskIdParamsSchema = z.strictObject({ id: z.uuid({ error: 'must be a task id (a UUID)' }) });

/** `POST /tasks/{id}/stop` body (optional). */
export const StopTaskBodySchema = z.strictObject({ reason: z.string().min(1, 'must be a non-empty string').max(1024, 'must be at most 1024 characters').optional() });

/** `Idempotency-Key` header: 1-255 printable ASCII characters. */
export const IdempotencyKeySchema = z.string().regex(/^[\x20-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters');

/** Upstream's numeric task state: 0 created/pending, 1 scheduled, 2 running, 3 completed, 4 failed, 6 stopped. */
export const TASK_STATE = { created: 0, pending: 0, scheduled: 1, running: 2, completed: 3, failed: 4, stopped: 6 } as const;

const ModuleJsonSchema = z.object({ digest: z.string(), size: z.number().int(), source: z.enum(['inline', 'url']), url: z.string().optional() });

/** One task as every tasks route answers it (what `propeller tasks get` prints). */
export const TaskJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  function_name: z.string(),
  status: TaskStatusSchema,
  state: z.number().int().describe("Upstream's numeric state: 0 created/pending, 1 scheduled, 2 running, 3 completed, 4 failed, 6 stopped"),
  module: ModuleJsonSchema.nullable().describe('The stored module (digest, size) when uploaded; null for image_url tasks'),
  image_url: z.string().nullable(),
  inputs: z.array(z.union([z.string(), z.number()])),
  cli_args: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  daemon: z.boolean(),
  proplet_id: z.string().nullable().describe('The proplet of the current (or last) attempt'),
  proplet_selector: z.object({
    proplet_id: z.string().optional(),
    match_types: z.array(z.string()).optional(),
    match_device_types: z.array(z.string()).optional(),
    match_capabilities: z.array(z.string()).optional(),
    match_labels: z.record(z.string(), z.string()).optional(),
  }),
  preferred_proplet_type: PreferredPropletTypeSchema,
  resource_requirements: z.object({ cpu: z.string().optional(), memory: z.string().optional() }),
  max_attempts: z.number().int(),
  timeout_ms: z.number().int().nullable().describe('Per-attempt timeout; null = none'),
  labels: z.record(z.string(), z.string()),
  owner: z.object({ namespace: z.string(), name: z.string(), uid: z.string() }).nullable(),
  attempt: z.number().int(),
  wire_id: z.string().nullable().describe('Id of the current attempt on the wire (PROTOCOL.md "Wire ids")'),
  results: z.unknown().describe('The result as reported (any JSON); null until completed'),
  error: z.string().nullable(),
  failure_reason: z.string().nullable(),
  unschedulable_reasons: z.array(z.string()).nullable().describe('Why the task waits, while pending and unschedulable'),
  explanation: z.string().nullable().describe('Why the current attempt went where it went'),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable().describe('When it was started (POST /start)'),
  scheduled_at: z.iso.datetime().nullable(),
  running_at: z.iso.datetime().nullable(),
  finished_at: z.iso.datetime().nullable(),
  start_time: z.iso.datetime().nullable().describe("Upstream's name for running_at"),
  finish_time: z.iso.datetime().nullable().describe("Upstream's name for finished_at"),
  seq: z.number().int().describe('Stream sequence of the last event applied to this task'),
});
/** One task in REST form. */
export type TaskJson = z.infer<typeof TaskJsonSchema>;

/** `GET /tasks` answer. */
export const TaskPageJsonSchema = z.object({ offset: z.number().int(), limit: z.number().int(), total: z.number().int(), tasks: z.array(TaskJsonSchema) });

/** `POST /tasks/batch` answer: the tasks in request order. */
export const BatchJsonSchema = z.object({ tasks: z.array(TaskJsonSchema) });

/** `GET /tasks/{id}/results` answer. */
export const TaskResultsJsonSchema = z.object({
  task_id: z.string(),
  status: TaskStatusSchema,
  state: z.number().int(),
  results: z.unknown().describe('Any JSON value as the proplet reported it; null until completed'),
  error: z.string().nullable(),
  failure_reason: z.string().nullable(),
  proplet_id: z.string().nullable(),
  attempt: z.number().int(),
  finished_at: z.iso.datetime().nullable(),
});

/** One timeline entry. */
export const TaskEventJsonSchema = z.object({ seq: z.number().int(), type: z.string(), at: z.iso.datetime(), summary: z.string() });
/** `GET /tasks/{id}/events` answer: the timeline, oldest first. */
export const TaskEventsJsonSchema = z.object({ task_id: z.string(), offset: z.number().int(), limit: z.number().int(), total: z.number().int(), events: z.array(TaskEventJsonSchema) });

/** The latest resource use a proplet reported for the task's current attempt. */
export const TaskMetricsJsonSchema = z
  .object({ task_id: z.string(), wire_id: z.string(), proplet_id: z.string().optional(), at: z.iso.datetime().optional(), received_at: z.iso.datetime().optional() })
  .loose();
