import type { PropletView } from '@propeller/read-models';
import { PropletJsonSchema } from './schemas';
import { propletJson } from './view';

const view = (over: Partial<PropletView> = {}): PropletView => ({
  id: 'esp32-7',
  type: 'external',
  deviceType: 'esp32',
  capabilities: ['wasm', 'sensor'],
  labels: { 'propeller.io/site': 'plant-a' },
  capacity: { memory: '512Ki' },
  maxTasks: 2,
  health: 'healthy',
  observedAt: '2026-11-27T13:00:00.000Z',
  active: true,
  cordoned: false,
  channel: { domainId: 'propeller', channelId: 'c1', layout: 'direct', perPropletTopics: false },
  dialect: 'wamr',
  extensionVersion: null,
  taskCount: 1,
  runningTaskCount: 1,
  metadata: { os: 'zephyr', cpuArch: 'xtensa', totalMemoryBytes: 524288, propletVersion: '0.3', wasmRuntime: 'wamr', namespace: 'embedded' },
  owner: null,
  registeredAt: '2026-11-27T12:00:00.000Z',
  updatedAt: '2026-11-27T13:00:00.000Z',
  seq: 42,
  ...over,
});

describe('propletJson', () => {
  const now = new Date('2026-11-27T13:01:30.900Z');

  it('writes every field in snake_case, metadata included, and matches the documented schema', () => {
    const json = propletJson(view(), now);
    expect(json).toMatchObject({
      device_type: 'esp32',
      max_tasks: 2,
      channel: { domain_id: 'propeller', channel_id: 'c1', layout: 'direct', per_proplet_topics: false },
      metadata: { os: 'zephyr', cpu_arch: 'xtensa', total_memory_bytes: 524288, proplet_version: '0.3', wasm_runtime: 'wamr', namespace: 'embedded' },
      task_count: 1,
      running_task_count: 1,
      extension_version: null,
      registered_at: '2026-11-27T12:00:00.000Z',
    });
    expect(JSON.stringify(json)).not.toMatch(/"[a-z]+[A-Z][A-Za-z]*":/);
    expect(PropletJsonSchema.strict().safeParse(json).success).toBe(true);
  });

  it('counts the health age in whole seconds from health_observed_at', () => {
    expect(propletJson(view(), now)).toMatchObject({ health_observed_at: '2026-11-27T13:00:00.000Z', health_age_seconds: 90 });
    // A clock slightly behind the writer's never shows a negative age.
    expect(propletJson(view(), new Date('2026-11-27T12:59:59.000Z')).health_age_seconds).toBe(0);
  });

  it('answers last_seen null when the plane never heard from the proplet', () => {
    expect(propletJson(view(), now)).toMatchObject({ last_seen_at: null, last_seen_source: null });
  });

  it.each([
    ['heartbeat', 'heartbeat'],
    ['lastWill', 'last_will'],
    ['podReadiness', 'pod_readiness'],
  ] as const)('shows a %s liveness entry as last_seen_source %s with its time in UTC', (source, rest) => {
    const json = propletJson(view(), now, { status: source === 'lastWill' ? 'offline' : 'alive', at: '2026-11-27T14:01:02.345+01:00', source, writer: 'gw-a' });
    expect(json).toMatchObject({ last_seen_at: '2026-11-27T13:01:02.345Z', last_seen_source: rest });
    expect(PropletJsonSchema.strict().safeParse(json).success).toBe(true);
  });

  it.each([
    ['healthy', true],
    ['unknown', false],
    ['offline', false],
    ['failed', false],
  ] as const)('sets upstream alive for %s to %s', (health, alive) => {
    expect(propletJson(view({ health }), now).alive).toBe(alive);
  });
});
