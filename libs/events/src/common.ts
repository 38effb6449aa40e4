import { z } from 'zod';

/**
 * Building blocks shared by the event and command schemas. Field names follow the domain layer
 * of ARCHITECTURE.md "Names on each layer" (camelCase; the snake_case wire forms live in
 * libs/mqtt-protocol and the REST API).
 */

/** ISO-8601 timestamp with an offset (`2026-11-27T13:00:00.000Z`); every `*At` field uses it. */
export const TimestampSchema = z.iso.datetime({ offset: true });

/** A non-empty aggregate id (any string that `encodeIdToken` accepts: 1-200 UTF-8 bytes). */
export const AggregateIdSchema = z
  .string()
  .min(1, 'must be a non-empty string')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 200, 'must be at most 200 bytes');

/**
 * Kubernetes resource quantity (`500m`, `2`, `1.5`, `512Mi`, `1G`, `1e3`), non-negative.
 * Kept as the string the operator or device wrote; libs/scheduling does the arithmetic.
 */
export const QuantitySchema = z
  .string()
  .regex(/^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/, 'must be a Kubernetes quantity such as 500m, 2, 512Mi or 1G');

/** Resources a proplet offers or a task requires; a missing resource is unknown, not zero. */
export const ResourcesSchema = z.object({
  cpu: QuantitySchema.optional(),
  memory: QuantitySchema.optional(),
});
export type Resources = z.infer<typeof ResourcesSchema>;

/**
 * Label map. Keys are non-empty; values are strings (empty allowed). Deliberately looser than
 * Kubernetes label syntax: device tags such as `room=Living room` become labels and must not
 * make a registration fail; the k8s-agent validates what it writes into Kubernetes.
 */
export const LabelsSchema = z.record(z.string().min(1, 'label keys must be non-empty').max(317), z.string().max(1024));
export type Labels = z.infer<typeof LabelsSchema>;

/** The two kinds of worker. */
export const PropletTypeSchema = z.enum(['k8s', 'external']);
export type PropletType = z.infer<typeof PropletTypeSchema>;

/** How a proplet's start messages are shaped (PROTOCOL.md "start"). */
export const DialectSchema = z.enum(['wasmtime', 'wamr']);
export type Dialect = z.infer<typeof DialectSchema>;

/** Topic layout under `m/{domain}/c/{channel}`: `messages` (ours, default) or `direct` (current upstream). */
export const ChannelLayoutSchema = z.enum(['messages', 'direct']);
export type ChannelLayout = z.infer<typeof ChannelLayoutSchema>;

/** MQTT topic segments may not contain `/`, `+`, `#` or NUL. */
const TopicSegmentSchema = z
  .string()
  .min(1, 'must be non-empty')
  .regex(/^[^/+#\p{Cc}]+$/u, 'must be one MQTT topic segment (no /, +, #)');

/** Where the gateway reaches a proplet: the channel and layout it registered on. */
export const ChannelSchema = z.object({
  domainId: TopicSegmentSchema,
  channelId: TopicSegmentSchema,
  layout: ChannelLayoutSchema,
  /** The proplet listens on `control/manager/{start,stop}/{proplet_id}` only. */
  perPropletTopics: z.boolean(),
});
export type Channel = z.infer<typeof ChannelSchema>;

/** Proplet health as judged by the health monitor. A new proplet is `unknown` until its first heartbeat. */
export const PropletHealthSchema = z.enum(['unknown', 'healthy', 'offline', 'failed', 'deregistered']);
export type PropletHealth = z.infer<typeof PropletHealthSchema>;

/** Task status on the domain layer. */
export const TaskStatusSchema = z.enum(['created', 'pending', 'scheduled', 'running', 'completed', 'failed', 'stopped']);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

/** Terminal task statuses: nothing moves a task out of them. */
export const TERMINAL_TASK_STATUSES = ['completed', 'failed', 'stopped'] as const satisfies readonly TaskStatus[];

/** The Kubernetes object that owns a proplet or a task (a `Proplet`/`Task` CR or a pod). */
export const OwnerSchema = z.object({
  namespace: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1),
});
export type Owner = z.infer<typeof OwnerSchema>;

/** The metadata upstream proplets send at registration (PROTOCOL.md "create"); every field optional. */
export const PropletMetadataSchema = z.object({
  /** Upstream's top-level `namespace` (an ESP32 sends `embedded`). */
  namespace: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  location: z.string().optional(),
  ip: z.string().optional(),
  environment: z.string().optional(),
  os: z.string().optional(),
  hostname: z.string().optional(),
  cpuArch: z.string().optional(),
  totalMemoryBytes: z.number().int().nonnegative().optional(),
  propletVersion: z.string().optional(),
  wasmRuntime: z.string().optional(),
});
export type PropletMetadata = z.infer<typeof PropletMetadataSchema>;

/** Lease revision of a singleton (`<p>_leases`); a command carrying a stale one is refused. */
export const FencingTokenSchema = z.number().int().nonnegative();

/** Content address of a stored Wasm module: `sha256:<64 hex>`. */
export const ModuleDigestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lowercase hex>');

/** Default bound on a module's size, `MODULE_MAX_BYTES` (16 MiB). */
export const DEFAULT_MODULE_MAX_BYTES = 16 * 1024 * 1024;

/** A Wasm module stored once, by content, in `<p>_modules`; bytes never enter the log. */
export const ModuleRefSchema = z
  .object({
    digest: ModuleDigestSchema,
    size: z.number().int().positive(),
    /** `inline`: uploaded with the task; `url`: fetched by the plane from `url`. */
    source: z.enum(['inline', 'url']),
    url: z.url().optional(),
  })
  .refine((m) => m.source !== 'url' || m.url !== undefined, { message: 'url is required when source is url', path: ['url'] });
export type ModuleRef = z.infer<typeof ModuleRefSchema>;

/** A task input: strings for wasmtime proplets, numbers for WAMR devices (converted per dialect at dispatch). */
export const TaskInputSchema = z.union([z.string(), z.number()]);

/** Hard placement rules; every present rule must hold. */
export const PropletSelectorSchema = z.object({
  /** Pin to one proplet. */
  propletId: AggregateIdSchema.optional(),
  matchTypes: z.array(PropletTypeSchema).optional(),
  matchDeviceTypes: z.array(z.string().min(1)).optional(),
  /** The proplet must have every listed capability. */
  matchCapabilities: z.array(z.string().min(1)).optional(),
  /** The proplet must carry every listed label with that value. */
  matchLabels: LabelsSchema.optional(),
});
export type PropletSelector = z.infer<typeof PropletSelectorSchema>;

/** A preference, not a rule: the other kind is used when the preferred one has no room. Default `any`. */
export const PreferredPropletTypeSchema = z.enum(['k8s', 'external', 'any']);
export type PreferredPropletType = z.infer<typeof PreferredPropletTypeSchema>;

/** Default `maxAttempts` of a task. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Default `timeoutMs` of a non-daemon task (10 minutes); daemons have none. */
export const DEFAULT_TASK_TIMEOUT_MS = 10 * 60 * 1000;

/** Attempt number, 1-based. */
export const AttemptSchema = z.number().int().positive();

/** An event as a decider produces it: `type` equals the TypeScript type's name, `data` its payload. */
export interface TypedEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
}
