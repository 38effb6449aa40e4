import type { PropletRowInput } from '@propeller/read-models';
import { effectiveProplet } from '../proplet/state';
import type { ActiveProplet } from '../proplet/state';

/**
 * The `proplets` row of an active proplet: the effective values (operator overrides over device
 * reports) and the folded state itself. Pure, and fed only from the event (its time and sequence),
 * so a rebuild writes the same rows as the live projection.
 */
export function propletRow(id: string, state: ActiveProplet, at: { occurredAt: string; seq: number }): PropletRowInput {
  const p = effectiveProplet(state);
  return {
    id,
    type: p.type,
    device_type: p.deviceType,
    capabilities: p.capabilities,
    labels: JSON.stringify(p.labels),
    capacity: JSON.stringify(p.capacity),
    max_tasks: p.maxTasks ?? null,
    health: p.health,
    // A proplet nobody has judged yet has been `unknown` since it registered.
    observed_at: state.healthChangedAt ?? state.registeredAt,
    cordoned: p.cordoned,
    domain_id: p.channel.domainId,
    channel_id: p.channel.channelId,
    layout: p.channel.layout,
    per_proplet_topics: p.channel.perPropletTopics,
    dialect: p.dialect,
    extension_version: p.extensionVersion ?? null,
    metadata: JSON.stringify(p.metadata),
    owner: p.owner === undefined ? null : JSON.stringify(p.owner),
    registered_at: state.registeredAt,
    updated_at: at.occurredAt,
    state: JSON.stringify(state),
    last_seq: at.seq,
  };
}
