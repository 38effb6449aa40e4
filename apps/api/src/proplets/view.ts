import type { PropletMetadata } from '@propeller/events';
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

/**
 * One read-model proplet in REST form. `alive` is upstream's boolean (true only while `healthy`);
 * `health_age_seconds` is counted from `health_observed_at` to `now`, never negative.
 */
export function propletJson(p: PropletView, now: Date): PropletJson {
  const observed = Date.parse(p.observedAt);
  return {
    id: p.id,
    type: p.type,
    health: p.health,
    alive: p.health === 'healthy',
    health_observed_at: p.observedAt,
    health_age_seconds: Math.max(0, Math.floor((now.getTime() - observed) / 1000)),
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

/** A page in REST form: `{offset, limit, total, proplets}`. */
export function propletPageJson(page: PropletPage, now: Date) {
  return { offset: page.offset, limit: page.limit, total: page.total, proplets: page.proplets.map((p) => propletJson(p, now)) };
}
