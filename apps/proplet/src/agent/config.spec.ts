import { loadConfig } from '@propeller/config';
import { isInvalid } from '@propeller/events';
import { propletConfigFrom } from './config';
import { readCapacity } from './host';

const shared = (env: Record<string, string> = {}) => loadConfig({ env, cwd: '/nonexistent', service: 'proplet' }).config;
const hostCapacity = () => ({ cpu: '8', memory: '16384Mi' });

describe('propletConfigFrom', () => {
  it('registers as k8s inside a pod and as external elsewhere', () => {
    expect(propletConfigFrom(shared(), { PROPLET_ID: 'p1', KUBERNETES_SERVICE_HOST: '10.0.0.1' }, hostCapacity).type).toBe('k8s');
    expect(propletConfigFrom(shared(), { PROPLET_ID: 'p1' }, hostCapacity).type).toBe('external');
    expect(propletConfigFrom(shared(), { PROPLET_ID: 'p1', KUBERNETES_SERVICE_HOST: 'x', PROPLET_TYPE: 'external' }, hostCapacity).type).toBe('external');
  });

  it('has the documented defaults', () => {
    const c = propletConfigFrom(shared(), { PROPLET_ID: 'p1' }, hostCapacity);
    expect(c).toMatchObject({
      deviceType: 'linux',
      capabilities: ['wasm', 'wasi'],
      labels: {},
      capacity: { cpu: '8', memory: '16384Mi' },
      maxTasks: 4,
      taskMemoryMaxBytes: 64 * 2 ** 20,
      drainTimeoutMs: 30_000,
      heartbeatIntervalMs: 10_000,
      httpPort: 9090,
      mqtt: { url: 'mqtt://127.0.0.1:1883', domainId: 'propeller', channelId: 'control', layout: 'messages' },
    });
  });

  it('reads its own keys and the shared ones from the environment', () => {
    const c = propletConfigFrom(
      shared({ PROPLET_HEARTBEAT_INTERVAL: '2s', PROPELLER_DOMAIN_ID: 'd1' }),
      {
        PROPLET_ID: 'rpi-1',
        PROPLET_DEVICE_TYPE: 'raspberry-pi',
        PROPLET_CAPABILITIES: 'wasm, sensor',
        PROPLET_LABELS: 'propeller.io/site=lab, rack=3',
        PROPLET_CAPACITY_CPU: '500m',
        PROPLET_MAX_TASKS: '2',
        PROPLET_TASK_MEMORY_MAX: '16Mi',
        PROPLET_DRAIN_TIMEOUT: '5s',
        PROPLET_OWNER_NAME: 'edge',
        PROPLET_OWNER_NAMESPACE: 'ns',
      },
      hostCapacity,
    );
    expect(c).toMatchObject({
      propletId: 'rpi-1',
      deviceType: 'raspberry-pi',
      capabilities: ['wasm', 'sensor'],
      labels: { 'propeller.io/site': 'lab', rack: '3' },
      capacity: { cpu: '500m', memory: '16384Mi' },
      maxTasks: 2,
      taskMemoryMaxBytes: 16 * 2 ** 20,
      drainTimeoutMs: 5_000,
      heartbeatIntervalMs: 2_000,
      owner: { name: 'edge', namespace: 'ns' },
      mqtt: { domainId: 'd1' },
    });
  });

  it.each([
    ['PROPLET_MAX_TASKS', 'many', 'PROPLET_MAX_TASKS: expected an integer from 1 to 1024 (got "many")'],
    ['PROPLET_TASK_MEMORY_MAX', 'lots', 'PROPLET_TASK_MEMORY_MAX: expected a size such as 64Mi, 512Ki or a number of bytes (got "lots")'],
    ['PROPLET_DRAIN_TIMEOUT', '30', 'PROPLET_DRAIN_TIMEOUT: expected a duration such as 500ms, 30s or 5m (got "30")'],
    ['PROPLET_TYPE', 'pod', 'PROPLET_TYPE: expected k8s or external (got "pod")'],
    ['PROPLET_LABELS', 'novalue', 'PROPLET_LABELS: expected comma-separated key=value pairs such as zone=a,rack=3 (got "novalue")'],
    ['PROPLET_ID', 'a/b', 'PROPLET_ID: expected a non-empty id without "/", "+", "#" (got "a/b")'],
  ])('refuses %s=%s naming key, value and form', (key, value, message) => {
    let err: unknown;
    try {
      propletConfigFrom(shared(), { PROPLET_ID: 'p1', [key]: value }, hostCapacity);
    } catch (e) {
      err = e;
    }
    expect(isInvalid(err)).toBe(true);
    expect((err as Error).message).toBe(message);
  });
});

describe('readCapacity', () => {
  it('takes the cgroup v2 limits of a container when they are set', () => {
    const files: Record<string, string> = { '/sys/fs/cgroup/cpu.max': '150000 100000', '/sys/fs/cgroup/memory.max': String(256 * 2 ** 20) };
    expect(readCapacity((p) => files[p])).toEqual({ cpu: '1500m', memory: '256Mi' });
  });

  it('falls back to the host when the cgroup sets no limit', () => {
    const c = readCapacity((p) => (p.endsWith('cpu.max') ? 'max 100000' : 'max'));
    expect(c.cpu).toMatch(/^\d+$/);
    expect(c.memory).toMatch(/^\d+Mi$/);
  });
});
