import { z } from 'zod';
import { MAX_ID_BYTES } from '@propeller/events';

/**
 * Zod schemas of every message of PROTOCOL.md "Messages", in their wire (snake_case) shape.
 *
 * Conventions applied everywhere, so that each consumer does not re-decide them:
 * - unknown keys are dropped (except inside the free-form metrics objects, which are kept whole);
 * - `null` or `""` for an optional string means absent (`undefined`);
 * - `null` for an optional list means empty (`[]`); empty strings inside string lists are dropped;
 * - `null` for an optional object or boolean means absent.
 * The parsed types below are the normalised outputs.
 */

const nullToUndefined = (v: unknown): unknown => (v === null ? undefined : v);
const emptyToUndefined = (v: unknown): unknown => (v === null || v === '' ? undefined : v);

const NON_EMPTY = 'expected a non-empty string';

/** A required id: non-empty string of at most 200 UTF-8 bytes (it becomes a NATS subject token). */
const idString = z
  .string({ error: NON_EMPTY })
  .min(1, { error: NON_EMPTY })
  .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_ID_BYTES, { error: `expected at most ${MAX_ID_BYTES} bytes` });

const requiredString = z.string({ error: NON_EMPTY }).min(1, { error: NON_EMPTY });

const optionalString = z.preprocess(emptyToUndefined, z.string({ error: 'expected a string' }).optional());

const optionalId = z.preprocess(emptyToUndefined, idString.optional());

const optionalStringList = z.preprocess(
  (v) => (v === null ? [] : v),
  z
    .array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' })
    .transform((list) => list.filter((s) => s.length > 0))
    .optional(),
);

const optionalBoolean = z.preprocess(nullToUndefined, z.boolean({ error: 'expected true or false' }).optional());

const nonNegativeInt = z.number({ error: 'expected a non-negative integer' }).int({ error: 'expected a non-negative integer' }).min(0, { error: 'expected a non-negative integer' });
const positiveInt = z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).min(1, { error: 'expected a positive integer' });
const optionalNonNegativeInt = z.preprocess(nullToUndefined, nonNegativeInt.optional());
const optionalPositiveInt = z.preprocess(nullToUndefined, positiveInt.optional());
const optionalNumber = z.preprocess(nullToUndefined, z.number({ error: 'expected a number' }).optional());

/** Byte counts: a non-negative integer, also accepted as a decimal string (some firmwares print u64 as text). */
const optionalByteCount = z.preprocess(
  (v) => (v === null || v === '' ? undefined : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'expected a non-negative integer number of bytes' })
    .int({ error: 'expected a non-negative integer number of bytes' })
    .min(0, { error: 'expected a non-negative integer number of bytes' })
    .optional(),
);

const stringMap = z.record(z.string(), z.string({ error: 'expected a string value' }), { error: 'expected an object of string values' });
const optionalStringMap = z.preprocess(nullToUndefined, stringMap.optional());

/** Longest label key, in characters (the bound of `LabelsSchema` in @propeller/events). */
export const MAX_LABEL_KEY_LENGTH = 317;
/** Longest label value, in characters (the bound of `LabelsSchema` in @propeller/events). */
export const MAX_LABEL_VALUE_LENGTH = 1024;
const labelMap = z.record(
  z.string().min(1, { error: 'expected non-empty label keys' }).max(MAX_LABEL_KEY_LENGTH, { error: `expected label keys of at most ${MAX_LABEL_KEY_LENGTH} characters` }),
  z.string({ error: 'expected a string value' }).max(MAX_LABEL_VALUE_LENGTH, { error: `expected label values of at most ${MAX_LABEL_VALUE_LENGTH} characters` }),
  // Only the record's own type error gets this text; key and value issues keep their own.
  { error: (issue) => (issue.code === 'invalid_type' ? 'expected an object of string values' : undefined) },
);

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** True for canonical, padded base64 (the encoding of `file` and registry chunk `data`). */
export function isBase64(s: string): boolean {
  return BASE64_RE.test(s);
}
const base64 = z.string({ error: 'expected a base64 string' }).refine(isBase64, { error: 'expected padded base64' });

/** Kubernetes resource quantity, non-negative: `2`, `0.5`, `500m`, `512Mi`, `1e3` (the same rule as `QuantitySchema` of @propeller/events). */
export const QUANTITY_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
const optionalQuantity = z.preprocess(
  (v) => (v === null || v === '' ? undefined : typeof v === 'number' && Number.isFinite(v) && v >= 0 ? String(v) : v),
  z
    .string({ error: 'expected a Kubernetes quantity such as "2", "500m" or "512Mi"' })
    .regex(QUANTITY_RE, { error: 'expected a Kubernetes quantity such as "2", "500m" or "512Mi"' })
    .optional(),
);

// ---------------------------------------------------------------- create

/** Upstream `metadata` of a create; every field may be missing, `null` or `""`. */
export const upstreamMetadataSchema = z.object({
  description: optionalString,
  tags: optionalStringList,
  location: optionalString,
  ip: optionalString,
  environment: optionalString,
  os: optionalString,
  hostname: optionalString,
  cpu_arch: optionalString,
  total_memory_bytes: optionalByteCount,
  proplet_version: optionalString,
  wasm_runtime: optionalString,
});
/** Upstream metadata, normalised. */
export type UpstreamMetadata = z.infer<typeof upstreamMetadataSchema>;

/** Our `propeller` extension of create (version 1; a later version's unknown keys are ignored). */
export const propellerExtensionSchema = z.object({
  v: z.preprocess(nullToUndefined, positiveInt.optional()).transform((v) => v ?? 1),
  type: z.preprocess(emptyToUndefined, z.enum(['k8s', 'external'], { error: 'expected "k8s" or "external"' }).optional()),
  labels: z.preprocess(nullToUndefined, labelMap.optional()),
  capacity: z.preprocess(nullToUndefined, z.object({ cpu: optionalQuantity, memory: optionalQuantity }, { error: 'expected an object {cpu, memory}' }).optional()),
  max_tasks: optionalPositiveInt,
  per_proplet_topics: optionalBoolean,
  owner: z.preprocess(
    nullToUndefined,
    z.object({ namespace: optionalString, name: requiredString, uid: optionalString }, { error: 'expected an object {namespace, name, uid}' }).optional(),
  ),
});
/** The `propeller` extension, normalised (`v` defaults to 1). */
export type PropellerExtension = z.infer<typeof propellerExtensionSchema>;

/** create — every shape of PROTOCOL.md (hybrid, upstream, legacy, extension), also mixed. */
export const createSchema = z.object({
  proplet_id: idString,
  device_type: optionalString,
  capabilities: optionalStringList,
  namespace: optionalString,
  metadata: z.preprocess(nullToUndefined, upstreamMetadataSchema.optional()),
  smq_channel_id: optionalString,
  propeller: z.preprocess(nullToUndefined, propellerExtensionSchema.optional()),
});
/** A parsed create. */
export type CreateMessage = z.infer<typeof createSchema>;

// ---------------------------------------------------------------- alive

/** alive — heartbeat, and the last-will with `status: "offline"`. */
export const aliveSchema = z.object({
  proplet_id: idString,
  status: z.enum(['alive', 'offline'], { error: 'expected "alive" or "offline"' }),
  namespace: optionalString,
  load: z.preprocess(
    nullToUndefined,
    z
      .object(
        { running_tasks: optionalNonNegativeInt, cpu_percent: optionalNumber, memory_bytes: optionalByteCount },
        { error: 'expected an object {running_tasks, cpu_percent, memory_bytes}' },
      )
      .optional(),
  ),
});
/** A parsed alive. */
export type AliveMessage = z.infer<typeof aliveSchema>;

// ---------------------------------------------------------------- start / stop

/** One input of a start: a string (wasmtime) or a number (wamr). */
const inputValue = z.union([z.string(), z.number()], { error: 'expected a string or a number' });

/** start — both dialects (string or number inputs, numeric or string `state`). */
export const startSchema = z
  .object({
    id: idString,
    name: requiredString,
    state: z.preprocess(nullToUndefined, z.union([z.number(), z.string()], { error: 'expected a number' }).optional()),
    file: z.preprocess(emptyToUndefined, base64.optional()),
    image_url: optionalString,
    inputs: z.preprocess((v) => (v === null || v === undefined ? [] : v), z.array(inputValue, { error: 'expected a list of inputs' })),
    cli_args: optionalStringList.transform((v) => v ?? []),
    env: optionalStringMap.transform((v) => v ?? {}),
    daemon: optionalBoolean,
    broadcast: optionalBoolean,
    latent: optionalBoolean,
    encrypted: optionalBoolean,
    proplet_id: optionalId,
    task_id: optionalId,
    attempt: optionalPositiveInt,
  })
  .superRefine((start, ctx) => {
    if (start.file === undefined && start.image_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['file'], message: 'expected file (base64 Wasm) or image_url' });
    }
  });
/** A parsed start. */
export type StartMessage = z.infer<typeof startSchema>;

/** stop — `{id, proplet_id}`, broadcast `{id, broadcast: true}`; wamr's string `name`/`state` accepted. */
export const stopSchema = z.object({
  id: idString,
  proplet_id: optionalId,
  broadcast: optionalBoolean,
  name: optionalString,
  state: z.preprocess(nullToUndefined, z.union([z.number(), z.string()], { error: 'expected a string or a number' }).optional()),
});
/** A parsed stop. */
export type StopMessage = z.infer<typeof stopSchema>;

// ---------------------------------------------------------------- task_started / results

/** task_started (extension) — `{task_id: <wire id>, proplet_id, attempt}`. */
export const taskStartedSchema = z.object({
  task_id: idString,
  proplet_id: idString,
  attempt: optionalPositiveInt,
});
/** A parsed task_started. */
export type TaskStartedMessage = z.infer<typeof taskStartedSchema>;

/** results — `results` is any JSON and is kept unchanged; a non-string `error` is kept as its JSON text. */
export const resultsSchema = z.object({
  task_id: idString,
  proplet_id: optionalId,
  /** Our proplet's extension; upstream proplets name the attempt through the wire id only. */
  attempt: optionalPositiveInt,
  results: z.unknown().optional(),
  error: z.preprocess(
    (v) => (v === null || v === '' || v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v)),
    z.string().optional(),
  ),
});
/** A parsed result; `error` set (non-empty) means the task failed. */
export type ResultsMessage = z.infer<typeof resultsSchema>;

/** True when a result reports a failure (a non-empty `error`). */
export function isFailedResult(result: ResultsMessage): boolean {
  return result.error !== undefined && result.error.length > 0;
}

// ---------------------------------------------------------------- metrics

/**
 * A metrics timestamp, normalised from its three wire forms:
 * `{secs_since_epoch, nanos_since_epoch}` (Rust `SystemTime`) → `epoch`;
 * a number (device uptime in ms, ESP32) → `uptime`;
 * an RFC 3339 string → `rfc3339`.
 */
export type MetricsTimestamp =
  | { form: 'epoch'; epochMs: number }
  | { form: 'uptime'; uptimeMs: number }
  | { form: 'rfc3339'; epochMs: number };

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const TIMESTAMP_EXPECTED = 'expected {secs_since_epoch, nanos_since_epoch}, uptime milliseconds or an RFC 3339 string';

const metricsTimestamp = z.unknown().transform((v, ctx): MetricsTimestamp | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return { form: 'uptime', uptimeMs: v };
  if (typeof v === 'string' && RFC3339_RE.test(v)) {
    const epochMs = Date.parse(v.replace(' ', 'T'));
    if (Number.isFinite(epochMs)) return { form: 'rfc3339', epochMs };
  }
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const secs = o['secs_since_epoch'];
    const nanos = o['nanos_since_epoch'] ?? 0;
    if (
      typeof secs === 'number' && Number.isInteger(secs) && secs >= 0 &&
      typeof nanos === 'number' && Number.isInteger(nanos) && nanos >= 0 && nanos < 1e9
    ) {
      return { form: 'epoch', epochMs: secs * 1000 + Math.floor(nanos / 1e6) };
    }
  }
  ctx.addIssue({ code: 'custom', message: TIMESTAMP_EXPECTED });
  return z.NEVER;
});

/** Wall-clock time of a metrics sample in ms since the epoch; uptime stamps and missing ones take `receivedAtMs`. */
export function metricsTimeMs(timestamp: MetricsTimestamp | undefined, receivedAtMs: number): number {
  if (timestamp === undefined || timestamp.form === 'uptime') return receivedAtMs;
  return timestamp.epochMs;
}

const looseNumbers = (expected: string) => z.preprocess(nullToUndefined, z.record(z.string(), z.unknown(), { error: expected }).optional());

/** metrics — proplet CPU and memory. `timestamp` is optional (absent → receive time); the metric objects are kept whole. */
export const metricsSchema = z.object({
  proplet_id: idString,
  timestamp: metricsTimestamp.optional(),
  cpu_metrics: z.preprocess(
    nullToUndefined,
    z
      .looseObject({ user_seconds: optionalNumber, system_seconds: optionalNumber, percent: optionalNumber }, { error: 'expected an object {user_seconds, system_seconds, percent}' })
      .optional(),
  ),
  memory_metrics: z.preprocess(
    nullToUndefined,
    z.looseObject({ rss_bytes: optionalByteCount }, { error: 'expected an object {rss_bytes, ...}' }).optional(),
  ),
});
/** A parsed metrics message. */
export type MetricsMessage = z.infer<typeof metricsSchema>;

/** task_metrics — one task's resource use; `metrics` and `aggregated` are free-form objects kept whole. */
export const taskMetricsSchema = z.object({
  task_id: idString,
  proplet_id: idString,
  metrics: looseNumbers('expected an object').transform((v) => v ?? {}),
  aggregated: looseNumbers('expected an object or null'),
  timestamp: metricsTimestamp.optional(),
});
/** A parsed task_metrics message. */
export type TaskMetricsMessage = z.infer<typeof taskMetricsSchema>;

// ---------------------------------------------------------------- registry

/** registry/proplet — `{app_name}`: a proplet asks for a module by name (its `image_url`). */
export const registryRequestSchema = z.object({ app_name: requiredString });
/** A parsed registry request. */
export type RegistryRequestMessage = z.infer<typeof registryRequestSchema>;

/** registry/server — one base64 chunk of a module; `chunk_idx` counts from 0. */
export const registryChunkSchema = z
  .object({
    app_name: requiredString,
    chunk_idx: nonNegativeInt,
    total_chunks: positiveInt,
    data: base64,
  })
  .superRefine((c, ctx) => {
    if (c.chunk_idx >= c.total_chunks) {
      ctx.addIssue({ code: 'custom', path: ['chunk_idx'], message: `expected chunk_idx below total_chunks (${c.total_chunks})` });
    }
  });
/** A parsed registry chunk. */
export type RegistryChunkMessage = z.infer<typeof registryChunkSchema>;
