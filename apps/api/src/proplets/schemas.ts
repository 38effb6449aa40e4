import { z } from 'zod';
import { DialectSchema, LabelsSchema, PropletTypeSchema, QuantitySchema } from '@propeller/events';

/**
 * The REST shapes of the proplets routes, in snake_case (ARCHITECTURE.md "Names on each layer").
 * Requests are validated with these schemas and `/openapi.json` is generated from them, so the
 * document and the checks cannot drift apart.
 */

/** Health values a listed proplet can have (deregistered proplets are not listed). */
export const REST_HEALTH = ['unknown', 'healthy', 'offline', 'failed'] as const;

const intParam = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be an integer from ${min} to ${max}`)
    .optional()
    .describe(what);

/** A query parameter that may be given several times (`?label=a=1&label=b=2`). */
const repeatable = <T extends z.ZodType<string, string>>(item: T) =>
  z.union([item, z.array(item)]).transform((v): Array<z.output<T>> => (Array.isArray(v) ? v : [v]) as Array<z.output<T>>);

/** `GET /proplets` query: filters combine with AND; `offset` default 0, `limit` default 100 (1..1000). */
export const ListPropletsQuerySchema = z.strictObject({
  type: PropletTypeSchema.optional().describe('k8s or external'),
  health: repeatable(z.enum(REST_HEALTH, { error: `must be one of ${REST_HEALTH.join(', ')}` }))
    .optional()
    .describe('One health value or several (any of them)'),
  device_type: z.string().min(1, 'must be a non-empty string').optional().describe('Exact device type, e.g. esp32'),
  capability: repeatable(z.string().min(1, 'must be a non-empty string')).optional().describe('Required capability; repeat for several (all of them)'),
  label: repeatable(z.string().regex(/^[^=]+=/, 'must be key=value with a non-empty key'))
    .optional()
    .describe('key=value; repeat for several (all of them)'),
  status: z.enum(['active', 'inactive'], { error: 'must be active or inactive' }).optional().describe('active = healthy or unknown; inactive = offline or failed'),
  offset: intParam(0, Number.MAX_SAFE_INTEGER, 'Rows to skip (default 0)'),
  limit: intParam(1, 1000, 'Page size (default 100, at most 1000)'),
});
/** Names of the `GET /proplets` query parameters. */
export const LIST_PROPLETS_PARAMS = Object.keys(ListPropletsQuerySchema.shape);

const PATCH_FIELDS = ['labels', 'capacity', 'device_type', 'capabilities'] as const;
/** The fields `PATCH /proplets/{id}` accepts. */
export const PATCH_PROPLET_FIELDS: readonly string[] = PATCH_FIELDS;

/** Capacity in Kubernetes quantities; a missing resource is unknown. */
export const CapacityJsonSchema = z.strictObject({ cpu: QuantitySchema.optional(), memory: QuantitySchema.optional() });

/**
 * `PATCH /proplets/{id}`: operator overrides (→ `proplet.label`). Each field replaces the override;
 * `null` clears it (the device-reported value shows again). Override labels are merged over the
 * device's labels. Unknown fields are refused.
 */
export const PatchPropletBodySchema = z
  .strictObject({
    labels: LabelsSchema.nullable().optional().describe('Label overrides, merged over the device labels; null clears them'),
    capacity: CapacityJsonSchema.nullable().optional().describe('Capacity override; null returns to the reported capacity'),
    device_type: z.string().min(1, 'must be a non-empty string').nullable().optional().describe('Device type override; null clears it'),
    capabilities: z.array(z.string().min(1, 'must be a non-empty string')).nullable().optional().describe('Capabilities override; null clears it'),
  })
  .refine((b) => PATCH_FIELDS.some((k) => b[k] !== undefined), { message: `must set at least one of ${PATCH_FIELDS.join(', ')}` });

/** `POST /proplets/{id}/cordon` body (optional). */
export const CordonBodySchema = z.strictObject({ reason: z.string().min(1, 'must be a non-empty string').max(1024, 'must be at most 1024 characters').optional() });

/** `DELETE /proplets/{id}` query. */
export const DeregisterQuerySchema = z.strictObject({
  reason: z.string().min(1, 'must be a non-empty string').max(1024, 'must be at most 1024 characters').optional().describe('Recorded in the PropletDeregistered event'),
});

/** Path parameter `id`. */
export const PropletIdParamsSchema = z.strictObject({
  id: z
    .string()
    .min(1, 'must be a non-empty string')
    .refine((s) => Buffer.byteLength(s, 'utf8') <= 200, 'must be at most 200 bytes'),
});

/** Upstream's registration metadata, in snake_case. */
export const MetadataJsonSchema = z.object({
  namespace: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  location: z.string().optional(),
  ip: z.string().optional(),
  environment: z.string().optional(),
  os: z.string().optional(),
  hostname: z.string().optional(),
  cpu_arch: z.string().optional(),
  total_memory_bytes: z.number().int().optional(),
  proplet_version: z.string().optional(),
  wasm_runtime: z.string().optional(),
});

/** One proplet as every proplets route answers it (what `propeller proplets get` prints). */
export const PropletJsonSchema = z.object({
  id: z.string(),
  type: PropletTypeSchema,
  health: z.enum(REST_HEALTH),
  /** Upstream's boolean: true only while `healthy`. */
  alive: z.boolean(),
  health_observed_at: z.iso.datetime().describe('When the health last changed (registration time while unknown)'),
  health_age_seconds: z.number().int().describe('Seconds since health_observed_at'),
  last_seen_at: z.iso
    .datetime()
    .nullable()
    .describe('When the plane last heard from the proplet (heartbeat, last-will or pod readiness, from the liveness store); null if never'),
  last_seen_source: z
    .enum(['heartbeat', 'last_will', 'pod_readiness'])
    .nullable()
    .describe('What last_seen_at was: a heartbeat, a last-will (offline), or a pod readiness change; null if never heard from'),
  active: z.boolean().describe('healthy or unknown (the status=active filter)'),
  cordoned: z.boolean(),
  device_type: z.string(),
  capabilities: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  capacity: z.object({ cpu: z.string().optional(), memory: z.string().optional() }),
  max_tasks: z.number().int().nullable().describe('Most tasks at once; null = unbounded'),
  dialect: DialectSchema,
  channel: z.object({ domain_id: z.string(), channel_id: z.string(), layout: z.enum(['messages', 'direct']), per_proplet_topics: z.boolean() }),
  task_count: z.number().int(),
  running_task_count: z.number().int(),
  metadata: MetadataJsonSchema,
  owner: z.object({ namespace: z.string(), name: z.string(), uid: z.string() }).nullable(),
  extension_version: z.number().int().nullable().describe('Version of the propeller extension; null for upstream proplets'),
  registered_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  seq: z.number().int().describe('Stream sequence of the last event applied to this proplet'),
});
/** One proplet in REST form. */
export type PropletJson = z.infer<typeof PropletJsonSchema>;

/** `GET /proplets` answer. */
export const PropletPageJsonSchema = z.object({
  offset: z.number().int(),
  limit: z.number().int(),
  total: z.number().int(),
  proplets: z.array(PropletJsonSchema),
});

/** The latest metrics a proplet reported (`GET /proplets/{id}/metrics`): the device message plus when it was taken and received. */
export const PropletMetricsJsonSchema = z
  .object({
    proplet_id: z.string(),
    at: z.iso.datetime().describe('Time of the sample (the device timestamp, or the receive time)'),
    received_at: z.iso.datetime(),
    cpu_metrics: z.record(z.string(), z.unknown()).optional(),
    memory_metrics: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

/** The answer of a write that was accepted but is not visible yet (202). */
export const AcceptedJsonSchema = z.object({
  status: z.literal('accepted'),
  location: z.string().describe('Where the result will be visible'),
  sequence: z.number().int().describe('Stream sequence the read model has not reached yet'),
});
