import { topicsFor } from '@propeller/mqtt-protocol';
import { ModuleStore } from '../modules/store';
import { TaskRunner } from '../runner';
import { Sandbox } from '../sandbox/sandbox';
import { PlaneClient, wat } from '../testing';
import { PropletAgent } from './agent';
import type { PropletConfig } from './config';
import { createPropletLogger } from './log';

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const domainId = `t${Math.random().toString(36).slice(2, 10)}`;
const propletId = `drain-${domainId}`;
const topics = topicsFor({ domainId, channelId: 'control', layout: 'messages' });

const config: PropletConfig = {
  propletId,
  type: 'k8s',
  deviceType: 'linux',
  capabilities: ['wasm'],
  labels: {},
  capacity: {},
  maxTasks: 2,
  taskMemoryMaxBytes: 16 * 2 ** 20,
  taskTimeoutMs: 20_000,
  drainTimeoutMs: 1_500,
  moduleCacheBytes: 2 ** 20,
  heartbeatIntervalMs: 10_000,
  httpPort: 0,
  moduleMaxBytes: 2 ** 20,
  mqtt: { url: BROKER, domainId, channelId: 'control', layout: 'messages' },
  logLevel: 'silent',
};

let plane: PlaneClient;

beforeAll(async () => {
  plane = await PlaneClient.connect(BROKER, domainId);
});

afterAll(async () => {
  await plane?.close();
});

describe('PropletAgent shutdown', () => {
  it('past the drain timeout stops what still runs, reports it, refuses new work meanwhile, and disconnects', async () => {
    const runner = new TaskRunner(new ModuleStore({ memoryMaxBytes: 16 * 2 ** 20 }), new Sandbox({ maxTasks: 2 }));
    const agent = new PropletAgent({ config, runner, host: { hostname: 'h', os: 'linux', cpuArch: 'x64', totalMemoryBytes: 2 ** 30, capacity: {} }, logger: createPropletLogger('silent'), persistentSession: false });
    await agent.start();
    await plane.next('/control/proplet/create', (j) => j['proplet_id'] === propletId);
    const spin = Buffer.from(await wat('(module (func (export "spin") (loop $l (br $l))))')).toString('base64');
    const add = Buffer.from(await wat('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))')).toString('base64');
    await plane.publish(topics.startFor(propletId), { id: 'forever', name: 'spin', state: 0, file: spin, inputs: [], proplet_id: propletId });
    await plane.next('/control/proplet/task_started', (j) => j['task_id'] === 'forever');

    const shutdown = agent.shutdown();
    await plane.next('/control/proplet/alive', (j) => j['proplet_id'] === propletId && j['status'] === 'offline');
    await plane.publish(topics.startFor(propletId), { id: 'late', name: 'add', state: 0, file: add, inputs: ['1', '2'], proplet_id: propletId });
    const late = await plane.next('/control/proplet/results', (j) => j['task_id'] === 'late');
    expect(late.json['error']).toBe(`proplet ${propletId} is shutting down and takes no new work`);
    await expect(shutdown).resolves.toEqual({ drained: false });
    const forever = await plane.next('/control/proplet/results', (j) => j['task_id'] === 'forever');
    expect(forever.json).toMatchObject({ error: 'task was stopped', attempt: 1 });
    expect(agent.connected).toBe(false);
    expect(runner.activeCount).toBe(0);
  });
});
