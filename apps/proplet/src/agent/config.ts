import { hostname } from 'node:os';
import { InvalidError } from '@propeller/events';
import { parseDuration, parseSize, type PropellerConfig } from '@propeller/config';
import { isTopicLevel, QUANTITY_RE, type Capacity, type Layout, type PropletOwner, type PropletType } from '@propeller/mqtt-protocol';

/** Everything the proplet process is configured with. */
export interface PropletConfig {
  /** `PROPLET_ID` (default: the host name, which is the pod name in Kubernetes). */
  propletId: string;
  /** `PROPLET_TYPE` (default `k8s` when `KUBERNETES_SERVICE_HOST` is set, else `external`). */
  type: PropletType;
  /** `PROPLET_DEVICE_TYPE` (default `linux`). */
  deviceType: string;
  /** `PROPLET_CAPABILITIES`, comma-separated (default `wasm,wasi`). */
  capabilities: string[];
  /** `PROPLET_LABELS`, `k=v,k=v` (default none). */
  labels: Record<string, string>;
  /** `PROPLET_CAPACITY_CPU` / `PROPLET_CAPACITY_MEMORY` (default: read from the cgroup or host). */
  capacity: Capacity;
  /** `PROPLET_MAX_TASKS` (default 4). */
  maxTasks: number;
  /** `PROPLET_TASK_MEMORY_MAX` (default 64Mi): the cap of every task's Wasm memory. */
  taskMemoryMaxBytes: number;
  /** `PROPLET_TASK_TIMEOUT` (default 5m): wall-clock limit of a non-daemon task. */
  taskTimeoutMs: number;
  /** `PROPLET_DRAIN_TIMEOUT` (default 30s): how long SIGTERM waits for running tasks. */
  drainTimeoutMs: number;
  /** `PROPLET_MODULE_CACHE` (default 64Mi): bytes of modules kept by digest. */
  moduleCacheBytes: number;
  /** `PROPLET_OWNER_NAMESPACE` / `_NAME` / `_UID`: the `Proplet` resource that owns this pod, if any. */
  owner?: PropletOwner;
  heartbeatIntervalMs: number;
  httpPort: number;
  moduleMaxBytes: number;
  mqtt: { url: string; username?: string; password?: string; domainId: string; channelId: string; layout: Layout };
  logLevel: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const get = (env: Env, key: string): string | undefined => {
  const v = env[key]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

function bad(key: string, value: string, form: string): InvalidError {
  return InvalidError.field(key, value, `expected ${form}`);
}

function size(env: Env, key: string, fallback: string): number {
  const raw = get(env, key) ?? fallback;
  const n = parseSize(raw);
  if (n === undefined || n <= 0) throw bad(key, raw, 'a size such as 64Mi, 512Ki or a number of bytes');
  return n;
}

function duration(env: Env, key: string, fallback: string): number {
  const raw = get(env, key) ?? fallback;
  const n = parseDuration(raw);
  if (n === undefined) throw bad(key, raw, 'a duration such as 500ms, 30s or 5m');
  return n;
}

function labelsOf(raw: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of (raw ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad('PROPLET_LABELS', raw ?? '', 'comma-separated key=value pairs such as zone=a,rack=3');
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

/**
 * The proplet's configuration: shared keys from `libs/config` (MQTT, heartbeat, HTTP port, module
 * size, log level) and the proplet's own `PROPLET_*` keys, read from the environment here because
 * `libs/config` does not have them (yet). A bad value throws `InvalidError` naming key, value and form.
 */
export function propletConfigFrom(shared: PropellerConfig, env: Env, readCapacity: () => Capacity): PropletConfig {
  const propletId = get(env, 'PROPLET_ID') ?? hostname();
  if (!isTopicLevel(propletId)) throw bad('PROPLET_ID', propletId, 'a non-empty id without "/", "+", "#"');
  const typeRaw = get(env, 'PROPLET_TYPE');
  if (typeRaw !== undefined && typeRaw !== 'k8s' && typeRaw !== 'external') throw bad('PROPLET_TYPE', typeRaw, 'k8s or external');
  const type: PropletType = (typeRaw as PropletType | undefined) ?? (get(env, 'KUBERNETES_SERVICE_HOST') ? 'k8s' : 'external');

  const maxTasksRaw = get(env, 'PROPLET_MAX_TASKS') ?? '4';
  const maxTasks = Number(maxTasksRaw);
  if (!Number.isInteger(maxTasks) || maxTasks < 1 || maxTasks > 1024) throw bad('PROPLET_MAX_TASKS', maxTasksRaw, 'an integer from 1 to 1024');

  const cpu = get(env, 'PROPLET_CAPACITY_CPU');
  const memory = get(env, 'PROPLET_CAPACITY_MEMORY');
  if (cpu !== undefined && !QUANTITY_RE.test(cpu)) throw bad('PROPLET_CAPACITY_CPU', cpu, 'a Kubernetes quantity such as 2 or 500m');
  if (memory !== undefined && !QUANTITY_RE.test(memory)) throw bad('PROPLET_CAPACITY_MEMORY', memory, 'a Kubernetes quantity such as 512Mi');
  const capacity = cpu !== undefined && memory !== undefined ? { cpu, memory } : { ...readCapacity(), ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) };

  const ownerName = get(env, 'PROPLET_OWNER_NAME');
  const ownerNamespace = get(env, 'PROPLET_OWNER_NAMESPACE');
  const ownerUid = get(env, 'PROPLET_OWNER_UID');
  const owner: PropletOwner | undefined =
    ownerName === undefined ? undefined : { name: ownerName, ...(ownerNamespace ? { namespace: ownerNamespace } : {}), ...(ownerUid ? { uid: ownerUid } : {}) };

  const taskMemoryMaxBytes = size(env, 'PROPLET_TASK_MEMORY_MAX', '64Mi');
  if (taskMemoryMaxBytes < 65536) throw bad('PROPLET_TASK_MEMORY_MAX', String(get(env, 'PROPLET_TASK_MEMORY_MAX')), 'at least one Wasm page (64Ki)');

  return {
    propletId,
    type,
    deviceType: get(env, 'PROPLET_DEVICE_TYPE') ?? 'linux',
    capabilities: (get(env, 'PROPLET_CAPABILITIES') ?? 'wasm,wasi').split(',').map((c) => c.trim()).filter(Boolean),
    labels: labelsOf(get(env, 'PROPLET_LABELS')),
    capacity,
    maxTasks,
    taskMemoryMaxBytes,
    taskTimeoutMs: duration(env, 'PROPLET_TASK_TIMEOUT', '5m'),
    drainTimeoutMs: duration(env, 'PROPLET_DRAIN_TIMEOUT', '30s'),
    moduleCacheBytes: size(env, 'PROPLET_MODULE_CACHE', '64Mi'),
    ...(owner ? { owner } : {}),
    heartbeatIntervalMs: shared.proplet.heartbeatInterval,
    httpPort: shared.proplet.httpPort,
    moduleMaxBytes: shared.moduleMaxBytes,
    mqtt: {
      url: shared.mqtt.broker,
      ...(shared.mqtt.username ? { username: shared.mqtt.username } : {}),
      ...(shared.mqtt.password ? { password: shared.mqtt.password } : {}),
      domainId: shared.mqtt.domainId,
      channelId: shared.mqtt.channelId,
      layout: shared.mqtt.layout,
    },
    logLevel: shared.logLevel,
  };
}
