import type { DomainEventType, EventOf } from '../catalog';
import { makeEnvelope, type EventEnvelope } from '../catalog';
import type { CommandDataInput, CommandName } from '../commands';

/**
 * Valid example data for every event and command, for tests in any project. These are examples,
 * not fakes: they go through the real schemas.
 */

/** Fixed ids and times so that examples are deterministic. */
export const EXAMPLE_TASK_ID = '3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c';
export const EXAMPLE_PROPLET_ID = 'esp32-7';
export const EXAMPLE_AT = '2026-11-27T13:00:00.000Z';
// wireIdFor(EXAMPLE_TASK_ID, 2) of @propeller/mqtt-protocol
const wireId2 = '8eb367ef-29bc-5b72-9f1f-ac71f515ab3e';

/** One valid `data` per event type (current schema version). */
export const EXAMPLE_EVENT_DATA: { [T in DomainEventType]: EventOf<T>['data'] } = {
  PropletRegistered: {
    type: 'external',
    deviceType: 'esp32',
    capabilities: ['wasm', 'sensor', 'wifi'],
    labels: { 'propeller.io/site': 'plant-a', floor: '2' },
    capacity: { memory: '512Ki' },
    maxTasks: 1,
    dialect: 'wamr',
    channel: { domainId: 'propeller', channelId: 'esp32-7', layout: 'messages', perPropletTopics: true },
    metadata: { namespace: 'embedded', os: 'zephyr', wasmRuntime: 'wamr', tags: ['sensor'], totalMemoryBytes: 524288 },
    registeredAt: EXAMPLE_AT,
  },
  PropletUpdated: { capabilities: ['wasm', 'sensor'], capacity: { cpu: '500m', memory: '1Gi' }, updatedAt: EXAMPLE_AT },
  PropletLabelled: { labels: { zone: 'north' }, capacity: null, labelledAt: EXAMPLE_AT },
  PropletCordoned: { reason: 'firmware upgrade', cordonedAt: EXAMPLE_AT },
  PropletUncordoned: { uncordonedAt: EXAMPLE_AT },
  PropletHealthChanged: {
    from: 'healthy',
    to: 'offline',
    reason: 'silent for 5m12s (offline threshold 5m)',
    evidence: { lastSeenAt: '2026-11-27T12:54:48.000Z', ageMs: 312000, source: 'silence' },
    fencingToken: 42,
    changedAt: EXAMPLE_AT,
  },
  PropletDeregistered: { reason: 'pod deleted', deregisteredAt: EXAMPLE_AT },
  SiteEvacuationPaused: { site: 'plant-a', share: 0.6, threshold: 0.55, offline: 4, failed: 2, total: 10, fencingToken: 42, pausedAt: EXAMPLE_AT },
  SiteEvacuationResumed: { site: 'plant-a', by: 'operator', resumedAt: EXAMPLE_AT },
  TaskCreated: {
    name: 'add',
    functionName: 'add',
    module: { digest: `sha256:${'ab'.repeat(32)}`, size: 41, source: 'inline' },
    imageUrl: null,
    inputs: ['10', 32],
    cliArgs: [],
    env: { MODE: 'fast' },
    daemon: false,
    propletSelector: { matchCapabilities: ['sensor'], matchLabels: { 'propeller.io/site': 'plant-a' } },
    preferredPropletType: 'external',
    resourceRequirements: { cpu: '100m', memory: '64Mi' },
    maxAttempts: 3,
    timeoutMs: 600000,
    labels: { team: 'edge' },
    createdAt: EXAMPLE_AT,
  },
  TaskUpdated: { inputs: ['1', '2'], updatedAt: EXAMPLE_AT },
  TaskStarted: { startedAt: EXAMPLE_AT },
  TaskScheduled: { propletId: EXAMPLE_PROPLET_ID, attempt: 1, wireId: EXAMPLE_TASK_ID, explanation: 'chose esp32-7: 3 candidates', scheduledAt: EXAMPLE_AT },
  TaskDispatched: { propletId: EXAMPLE_PROPLET_ID, attempt: 1, wireId: EXAMPLE_TASK_ID, dispatchedAt: EXAMPLE_AT },
  TaskRunning: { propletId: EXAMPLE_PROPLET_ID, attempt: 1, wireId: EXAMPLE_TASK_ID, evidence: 'taskStarted', runningAt: EXAMPLE_AT },
  TaskCompleted: { results: '42', attempt: 1, wireId: EXAMPLE_TASK_ID, propletId: EXAMPLE_PROPLET_ID, completedAt: EXAMPLE_AT },
  TaskFailed: { error: 'Task was cancelled or panicked', reason: 'error', attempt: 2, wireId: wireId2, failedAt: EXAMPLE_AT },
  TaskStopped: { reason: 'stopped by operator', propletId: EXAMPLE_PROPLET_ID, attempt: 1, wireId: EXAMPLE_TASK_ID, stoppedAt: EXAMPLE_AT },
  TaskEvacuated: { fromPropletId: EXAMPLE_PROPLET_ID, attempt: 1, wireId: EXAMPLE_TASK_ID, reason: 'proplet failed', evacuatedAt: EXAMPLE_AT },
  TaskUnschedulable: { reasons: ['12 proplets lack capability sensor, e.g. esp32-7, rpi-2'], attempt: 1, unschedulableAt: EXAMPLE_AT },
  TaskResultDiscarded: { wireId: EXAMPLE_TASK_ID, attempt: 1, reason: 'staleAttempt', propletId: EXAMPLE_PROPLET_ID, discardedAt: EXAMPLE_AT },
  TaskArchived: { status: 'completed', archivedAt: EXAMPLE_AT },
  TaskDeleted: { status: 'created', deletedAt: EXAMPLE_AT },
};

/** One valid request `data` per command. */
export const EXAMPLE_COMMAND_DATA: { [N in CommandName]: CommandDataInput<N> } = {
  'proplet.register': {
    propletId: EXAMPLE_PROPLET_ID,
    type: 'external',
    deviceType: 'esp32',
    capabilities: ['wasm'],
    dialect: 'wamr',
    channel: { domainId: 'propeller', channelId: 'esp32-7', layout: 'direct', perPropletTopics: false },
  },
  'proplet.update': { propletId: EXAMPLE_PROPLET_ID, capacity: { memory: '1Gi' } },
  'proplet.label': { propletId: EXAMPLE_PROPLET_ID, labels: { zone: 'north' } },
  'proplet.cordon': { propletId: EXAMPLE_PROPLET_ID, reason: 'maintenance' },
  'proplet.uncordon': { propletId: EXAMPLE_PROPLET_ID },
  'proplet.changeHealth': { propletId: EXAMPLE_PROPLET_ID, to: 'healthy', reason: 'heartbeat', evidence: { source: 'heartbeat' } },
  'proplet.deregister': { propletId: EXAMPLE_PROPLET_ID, reason: 'operator' },
  'site.pauseEvacuation': { site: 'plant-a', share: 0.6, threshold: 0.55, offline: 6, failed: 0, total: 10 },
  'site.resumeEvacuation': { site: 'plant-a', by: 'breakerWindow', share: 0.1 },
  'task.create': { taskId: EXAMPLE_TASK_ID, name: 'add', imageUrl: 'registry.example/add:1', inputs: ['1', '2'] },
  'task.update': { taskId: EXAMPLE_TASK_ID, maxAttempts: 5 },
  'task.start': { taskId: EXAMPLE_TASK_ID },
  'task.stop': { taskId: EXAMPLE_TASK_ID },
  'task.delete': { taskId: EXAMPLE_TASK_ID },
  'task.schedule': { taskId: EXAMPLE_TASK_ID, propletId: EXAMPLE_PROPLET_ID, attempt: 1, explanation: 'only candidate' },
  'task.recordUnschedulable': { taskId: EXAMPLE_TASK_ID, attempt: 1, reasons: ['no healthy proplet'] },
  'task.recordDispatched': { taskId: EXAMPLE_TASK_ID, wireId: EXAMPLE_TASK_ID, propletId: EXAMPLE_PROPLET_ID },
  'task.recordStarted': { taskId: EXAMPLE_TASK_ID, wireId: EXAMPLE_TASK_ID, propletId: EXAMPLE_PROPLET_ID, attempt: 1 },
  'task.recordResult': { taskId: EXAMPLE_TASK_ID, wireId: EXAMPLE_TASK_ID, results: '42' },
  'task.recordTimeout': { taskId: EXAMPLE_TASK_ID, attempt: 1 },
  'task.evacuate': { taskId: EXAMPLE_TASK_ID, fromPropletId: EXAMPLE_PROPLET_ID, reason: 'proplet failed' },
  'task.archive': { taskId: EXAMPLE_TASK_ID },
};

let counter = 0;
/** A deterministic UUID for test envelopes (`00000000-0000-4000-8000-<n>`). */
export function testUuid(n: number = ++counter): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** A valid envelope of `type` around its example data (or `data`), for tests. */
export function exampleEnvelope<T extends DomainEventType>(
  type: T,
  options: { data?: EventOf<T>['data']; aggregateId?: string; id?: string; occurredAt?: string; correlationId?: string } = {},
): EventEnvelope<EventOf<T>> {
  const aggregateId = options.aggregateId ?? (type.startsWith('Task') ? EXAMPLE_TASK_ID : type.startsWith('Site') ? 'plant-a' : EXAMPLE_PROPLET_ID);
  return makeEnvelope({
    event: { type, data: options.data ?? EXAMPLE_EVENT_DATA[type] } as EventOf<T>,
    aggregateId,
    meta: { correlationId: options.correlationId ?? 'test-correlation' },
    id: options.id ?? testUuid(),
    occurredAt: options.occurredAt ?? EXAMPLE_AT,
  });
}
export { AT, command, given } from './given';
