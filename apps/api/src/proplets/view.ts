import type { PropletLiveness, PropletMetadata } from '@propeller/events';
import type { PropletPage, PropletView } from '@propeller/read-models';
import type { PropletJson } from './schemas';

/** Upstream's metadata keys in snake_case; unknown keys are kept as they are. */
const METADATA_KEYS: Record<string, string> = {
  cpuArch: 'cpu_arch',
  totalMemoryBytes: 'total_memory_bytes',
  propletVersion: 'proplet_version',
  wasmRuntime: 'wasm_runtime',
};

/** The registration metadata in REST casing. */
export function metadataJson(metadata: PropletMetadata): PropletJson['metadata'] {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [METADATA_KEYS[k] ?? k, v])) as PropletJson['metadata'];
}

/** Liveness sources in REST casing (the liveness KV writes them camelCase). */
const LAST_SEEN_SOURCES: Record<PropletLiveness['source'], PropletJson['last_seen_source'] & string> = {
  heartbeat: 'heartbeat',
  lastWill: 'last_will',
  podReadiness: 'pod_readiness',
};

/**
 * One read-model proplet in REST form. `alive` is upstream's boolean (true only while `healthy`);
 * `health_age_seconds` is counted from `health_observed_at` to `now`, never negative. `seen` is the
 * proplet's liveness KV entry: `last_seen_at`/`last_seen_source` say when and how the plane last heard
 * from it (both `null` when it has never been heard from; default `null`).
 */
export function propletJson(p: PropletView, now: Date, seen: PropletLiveness | null = null): PropletJson {
  const observed = Date.parse(p.observedAt);
  return {
    id: p.id,
    type: p.type,
    health: p.health,
    alive: p.health === 'healthy',
    health_observed_at: p.observedAt,
    health_age_seconds: Math.max(0, Math.floor((now.getTime() - observed) / 1000)),
    last_seen_at: seen === null ? null : new Date(seen.at).toISOString(),
    last_seen_source: seen === null ? null : LAST_SEEN_SOURCES[seen.source],
    active: p.active,
    cordoned: p.cordoned,
    device_type: p.deviceType,
    capabilities: p.capabilities,
    labels: p.labels,
    capacity: p.capacity,
    max_tasks: p.maxTasks,
    dialect: p.dialect,
    channel: {
      domain_id: p.channel.domainId,
      channel_id: p.channel.channelId,
      layout: p.channel.layout,
      per_proplet_topics: p.channel.perPropletTopics,
    },
    task_count: p.taskCount,
    running_task_count: p.runningTaskCount,
    metadata: metadataJson(p.metadata),
    owner: p.owner,
    extension_version: p.extensionVersion,
    registered_at: p.registeredAt,
    updated_at: p.updatedAt,
    seq: p.seq,
  };
}

/** A page in REST form: `{offset, limit, total, proplets}`; `seen[i]` is the liveness of `page.proplets[i]` (default: none known). */
export function propletPageJson(page: PropletPage, now: Date, seen: ReadonlyArray<PropletLiveness | null> = []) {
  return { offset: page.offset, limit: page.limit, total: page.total, proplets: page.proplets.map((p, i) => propletJson(p, now, seen[i] ?? null)) };
}
