import type { Capacity, PropletOwner, PropletType } from './derive';
import { chunkModule, DEFAULT_CHUNK_SIZE } from './chunks';
import { SUBSCRIPTION_QOS, topicsFor, type ChannelRef, type QoS, type TopicKind } from './topics';

/**
 * Builders of what a proplet publishes (for our proplet, the device simulators and tests): each
 * takes camelCase input and returns the topic and the exact JSON text. Absent optional fields are
 * left out of the payload, as a careful device would.
 */

/** A message ready to publish (never retained). */
export interface Outbound {
  readonly topic: string;
  readonly payload: string;
  /** QoS to publish with: the gateway's subscription QoS of the kind (PROTOCOL.md "Delivery rules"), so a higher one would buy nothing. */
  readonly qos?: QoS;
}

/** Current version of the `propeller` extension of create. */
export const EXTENSION_VERSION = 1;

/** Upstream metadata of a create, camelCase. */
export interface CreateMetadataInput {
  description?: string;
  tags?: string[];
  location?: string;
  ip?: string;
  environment?: string;
  os?: string;
  hostname?: string;
  cpuArch?: string;
  totalMemoryBytes?: number;
  propletVersion?: string;
  wasmRuntime?: string;
}

/** The `propeller` extension, camelCase. */
export interface ExtensionInput {
  type?: PropletType;
  labels?: Record<string, string>;
  capacity?: Capacity;
  maxTasks?: number;
  perPropletTopics?: boolean;
  owner?: PropletOwner;
}

/** Input of `buildCreate`; `propeller` adds the extension (`v: 1`). */
export interface CreateInput {
  propletId: string;
  deviceType?: string;
  capabilities?: string[];
  namespace?: string;
  metadata?: CreateMetadataInput;
  smqChannelId?: string;
  propeller?: ExtensionInput;
}

type Json = Record<string, unknown>;

/** Copies the defined entries only, renaming keys. */
function pick(source: object, names: Readonly<Record<string, string>>): Json {
  const out: Json = {};
  for (const [from, to] of Object.entries(names)) {
    const v = (source as Json)[from];
    if (v !== undefined) out[to] = v;
  }
  return out;
}

function outbound(channel: ChannelRef, kind: TopicKind, message: Json): Outbound {
  return { topic: topicsFor(channel).of(kind), payload: JSON.stringify(message), qos: SUBSCRIPTION_QOS[kind] };
}

/** Builds a create (discovery/registration). */
export function buildCreate(channel: ChannelRef, input: CreateInput): Outbound {
  const message: Json = {
    proplet_id: input.propletId,
    ...pick(input, { deviceType: 'device_type', capabilities: 'capabilities', namespace: 'namespace', smqChannelId: 'smq_channel_id' }),
  };
  if (input.metadata !== undefined) {
    message['metadata'] = pick(input.metadata, {
      description: 'description',
      tags: 'tags',
      location: 'location',
      ip: 'ip',
      environment: 'environment',
      os: 'os',
      hostname: 'hostname',
      cpuArch: 'cpu_arch',
      totalMemoryBytes: 'total_memory_bytes',
      propletVersion: 'proplet_version',
      wasmRuntime: 'wasm_runtime',
    });
  }
  if (input.propeller !== undefined) {
    message['propeller'] = {
      v: EXTENSION_VERSION,
      ...pick(input.propeller, { type: 'type', labels: 'labels', capacity: 'capacity', maxTasks: 'max_tasks', perPropletTopics: 'per_proplet_topics', owner: 'owner' }),
    };
  }
  return outbound(channel, 'create', message);
}

/** Load reported with a heartbeat. */
export interface LoadInput {
  runningTasks?: number;
  cpuPercent?: number;
  memoryBytes?: number;
}

/** Input of `buildAlive`. */
export interface AliveInput {
  propletId: string;
  /** Default `alive`; `offline` is the last-will. */
  status?: 'alive' | 'offline';
  namespace?: string;
  load?: LoadInput;
}

/** Builds a heartbeat (or, with `status: "offline"`, the last-will). */
export function buildAlive(channel: ChannelRef, input: AliveInput): Outbound {
  const message: Json = { proplet_id: input.propletId, status: input.status ?? 'alive', ...pick(input, { namespace: 'namespace' }) };
  if (input.load !== undefined) {
    message['load'] = pick(input.load, { runningTasks: 'running_tasks', cpuPercent: 'cpu_percent', memoryBytes: 'memory_bytes' });
  }
  return outbound(channel, 'alive', message);
}

/** The last-will a proplet sets when it connects: an `offline` alive on its alive topic (publish with QoS 1, not retained). */
export function buildLastWill(channel: ChannelRef, input: { propletId: string; namespace?: string }): Outbound {
  return buildAlive(channel, { ...input, status: 'offline' });
}

/** Builds a task_started (extension): the run of this wire id has begun. */
export function buildTaskStarted(channel: ChannelRef, input: { wireId: string; propletId: string; attempt?: number }): Outbound {
  return outbound(channel, 'task_started', { task_id: input.wireId, proplet_id: input.propletId, ...pick(input, { attempt: 'attempt' }) });
}

/** Input of `buildResults`: `results` is any JSON; a non-empty `error` reports failure. */
export interface ResultsInput {
  wireId: string;
  propletId?: string;
  /** Our extension: the attempt number (upstream readers ignore it; the wire id names the attempt anyway). */
  attempt?: number;
  results: unknown;
  error?: string;
}

/** Builds a result (success, or failure with `error`). */
export function buildResults(channel: ChannelRef, input: ResultsInput): Outbound {
  const message: Json = { task_id: input.wireId, ...pick(input, { propletId: 'proplet_id', attempt: 'attempt' }), results: input.results ?? null };
  if (input.error !== undefined && input.error !== '') message['error'] = input.error;
  return outbound(channel, 'results', message);
}

/**
 * A metrics timestamp to send: a `Date` goes as `{secs_since_epoch, nanos_since_epoch}` (as the
 * Rust proplet does), a number as device uptime in ms (as the ESP32 does), a string as RFC 3339.
 */
export type TimestampInput = Date | number | string;

function wireTimestamp(t: TimestampInput): unknown {
  if (t instanceof Date) {
    const ms = t.getTime();
    return { secs_since_epoch: Math.floor(ms / 1000), nanos_since_epoch: (((ms % 1000) + 1000) % 1000) * 1e6 };
  }
  return t;
}

/** Input of `buildMetrics`. */
export interface MetricsInput {
  propletId: string;
  timestamp?: TimestampInput;
  cpu?: { userSeconds?: number; systemSeconds?: number; percent?: number };
  /** Memory figures, sent as given plus `rss_bytes` from `rssBytes`. */
  memory?: { rssBytes?: number } & Record<string, number | undefined>;
}

/** Builds a proplet metrics message. */
export function buildMetrics(channel: ChannelRef, input: MetricsInput): Outbound {
  const message: Json = { proplet_id: input.propletId };
  if (input.timestamp !== undefined) message['timestamp'] = wireTimestamp(input.timestamp);
  if (input.cpu !== undefined) message['cpu_metrics'] = pick(input.cpu, { userSeconds: 'user_seconds', systemSeconds: 'system_seconds', percent: 'percent' });
  if (input.memory !== undefined) {
    const { rssBytes, ...rest } = input.memory;
    message['memory_metrics'] = { ...(rssBytes !== undefined ? { rss_bytes: rssBytes } : {}), ...rest };
  }
  return outbound(channel, 'metrics', message);
}

/** Builds a task_metrics message; `metrics` and `aggregated` are sent as given. */
export function buildTaskMetrics(
  channel: ChannelRef,
  input: { wireId: string; propletId: string; metrics: Record<string, unknown>; aggregated?: Record<string, unknown> | null; timestamp?: TimestampInput },
): Outbound {
  const message: Json = { task_id: input.wireId, proplet_id: input.propletId, metrics: input.metrics, aggregated: input.aggregated ?? null };
  if (input.timestamp !== undefined) message['timestamp'] = wireTimestamp(input.timestamp);
  return outbound(channel, 'task_metrics', message);
}

/** Builds a registry request: ask the plane for the module named `appName` (a task's `image_url`). */
export function buildRegistryRequest(channel: ChannelRef, appName: string): Outbound {
  return outbound(channel, 'registry_request', { app_name: appName });
}

/** The plane's answer to a registry request: every chunk of the module on `registry/server`, in order (see `chunkModule`). */
export function buildRegistryChunks(channel: ChannelRef, appName: string, bytes: Uint8Array, chunkSize: number = DEFAULT_CHUNK_SIZE): Outbound[] {
  const topic = topicsFor(channel).registryChunk;
  return chunkModule(appName, bytes, chunkSize).map((c) => ({ topic, payload: JSON.stringify(c), qos: SUBSCRIPTION_QOS.registry_chunk }));
}
