import { buildRegistryChunks, topicsFor, wireIdFor } from '@propeller/mqtt-protocol';
import { ModuleStore } from '../modules/store';
import { TaskRunner } from '../runner';
import { Sandbox } from '../sandbox/sandbox';
import { PlaneClient, waitFor, wat } from '../testing';
import { PropletAgent } from './agent';
import { createPropletLogger } from './log';
import type { PropletConfig } from './config';

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';
const domainId = `t${Math.random().toString(36).slice(2, 10)}`;
const channel = { domainId, channelId: 'control', layout: 'messages' as const };
const topics = topicsFor(channel);
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

const ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))';
const SPIN = '(module (func (export "spin") (loop $l (br $l))))';
const TRAP = '(module (func (export "boom") (result i32) unreachable))';

function config(propletId: string): PropletConfig {
  return {
    propletId,
    type: 'external',
    deviceType: 'raspberry-pi',
    capabilities: ['wasm', 'wasi', 'sensor'],
    labels: { 'propeller.io/site': 'lab' },
    capacity: { cpu: '2', memory: '512Mi' },
    maxTasks: 3,
    taskMemoryMaxBytes: 16 * 2 ** 20,
    taskTimeoutMs: 10_000,
    drainTimeoutMs: 5_000,
    moduleCacheBytes: 8 * 2 ** 20,
    heartbeatIntervalMs: 300,
    httpPort: 0,
    moduleMaxBytes: 2 ** 20,
    mqtt: { url: BROKER, domainId, channelId: 'control', layout: 'messages' },
    logLevel: 'silent',
  };
}

let plane: PlaneClient;
let agent: PropletAgent;
let runner: TaskRunner;
const propletId = `p-${domainId}`;
let add: string;

beforeAll(async () => {
  add = b64(await wat(ADD));
  plane = await PlaneClient.connect(BROKER, domainId);
  const agentRef: { current?: PropletAgent } = {};
  runner = new TaskRunner(
    new ModuleStore({ memoryMaxBytes: 16 * 2 ** 20, registry: (name) => (agentRef.current as PropletAgent).fetchFromRegistry(name) }),
    new Sandbox({ maxTasks: 3, timeoutMs: 10_000 }),
  );
  agent = new PropletAgent({ config: config(propletId), runner, host: { hostname: 'test', os: 'linux', cpuArch: 'x64', totalMemoryBytes: 2 ** 30, capacity: {} }, logger: createPropletLogger('silent'), persistentSession: false, registryTimeoutMs: 5_000 });
  agentRef.current = agent;
  await agent.start();
});

afterAll(async () => {
  await agent?.shutdown(2_000);
  await plane?.close();
});

const mine = (id: string) => (j: Record<string, unknown>) => j['task_id'] === id;

describe('PropletAgent against Mosquitto', () => {
  it('registers with the propeller extension and beats with its load', async () => {
    const create = await plane.next('/control/proplet/create', (j) => j['proplet_id'] === propletId);
    expect(create.topic).toBe(topics.create);
    expect(create.json).toMatchObject({
      proplet_id: propletId,
      device_type: 'raspberry-pi',
      capabilities: ['wasm', 'wasi', 'sensor'],
      propeller: { v: 1, type: 'external', labels: { 'propeller.io/site': 'lab' }, capacity: { cpu: '2', memory: '512Mi' }, max_tasks: 3, per_proplet_topics: true },
    });
    await waitFor(() => plane.matching('/control/proplet/alive', (j) => j['proplet_id'] === propletId && j['status'] === 'alive').length >= 2, 'two heartbeats');
    const alive = plane.matching('/control/proplet/alive')[0];
    expect(alive?.json['load']).toMatchObject({ running_tasks: expect.any(Number), memory_bytes: expect.any(Number) });
  });

  it('runs a start from its own topic: task_started, then the result with the wire id and attempt', async () => {
    const wireId = wireIdFor('task-add', 2);
    await plane.publish(topics.startFor(propletId), { id: wireId, name: 'add', state: 0, file: add, inputs: ['2', '3'], proplet_id: propletId, task_id: 'task-add', attempt: 2 });
    const started = await plane.next('/control/proplet/task_started', mine(wireId));
    expect(started.json).toEqual({ task_id: wireId, proplet_id: propletId, attempt: 2 });
    const result = await plane.next('/control/proplet/results', mine(wireId));
    expect(result.json).toEqual({ task_id: wireId, proplet_id: propletId, results: '5', attempt: 2 });
  });

  it('carries the traceparent of a start user property onto task_started and the result, and reports task metrics', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await plane.publish(topics.startFor(propletId), { id: 'traced', name: 'add', state: 0, file: add, inputs: ['1', '1'], proplet_id: propletId }, { traceparent });
    expect((await plane.next('/control/proplet/task_started', mine('traced'))).userProperties).toEqual({ traceparent });
    expect((await plane.next('/control/proplet/results', mine('traced'))).userProperties).toEqual({ traceparent });
    const metrics = await plane.next('/control/proplet/task_metrics', mine('traced'));
    expect(metrics.json).toMatchObject({ task_id: 'traced', proplet_id: propletId, metrics: { duration_ms: expect.any(Number), ok: true }, aggregated: null });
  });

  it('ignores a start for another proplet on the shared topic and runs one naming it', async () => {
    await plane.publish(topics.start, { id: 'not-mine', name: 'add', state: 0, file: add, inputs: ['1', '1'], proplet_id: 'someone-else' });
    await plane.publish(topics.start, { id: 'shared-mine', name: 'add', state: 0, file: add, inputs: ['1', '2'], proplet_id: propletId });
    expect((await plane.next('/control/proplet/results', mine('shared-mine'))).json['results']).toBe('3');
    // Both starts were sent in order on one topic, so the first was handled before the second's result.
    expect(plane.matching('/control/proplet/task_started', mine('not-mine'))).toHaveLength(0);
    expect(plane.matching('/control/proplet/results', mine('not-mine'))).toHaveLength(0);
  });

  it('ignores a duplicate start of a running wire id, and a stop ends it with an error result', async () => {
    const spin = { id: 'spin-1', name: 'spin', state: 0, file: b64(await wat(SPIN)), inputs: [], proplet_id: propletId };
    await plane.publish(topics.startFor(propletId), spin);
    await plane.next('/control/proplet/task_started', mine('spin-1'));
    await plane.publish(topics.startFor(propletId), spin);
    await plane.publish(topics.stopFor(propletId), { id: 'spin-1', proplet_id: propletId });
    const result = await plane.next('/control/proplet/results', mine('spin-1'));
    expect(result.json).toMatchObject({ task_id: 'spin-1', error: 'task was stopped' });
    expect(plane.matching('/control/proplet/task_started', mine('spin-1'))).toHaveLength(1);
    // A redelivered start after the end is still a duplicate.
    await plane.publish(topics.startFor(propletId), spin);
    await plane.publish(topics.startFor(propletId), { ...spin, id: 'after-dup', name: 'add', file: add, inputs: ['0', '0'] });
    await plane.next('/control/proplet/results', mine('after-dup'));
    expect(plane.matching('/control/proplet/results', mine('spin-1'))).toHaveLength(1);
  });

  it('fails invalid bytes and a trap with clear errors while a concurrent good task succeeds', async () => {
    await plane.publish(topics.startFor(propletId), { id: 'junk', name: 'main', state: 0, file: b64(new TextEncoder().encode('not wasm at all')), inputs: [], proplet_id: propletId });
    await plane.publish(topics.startFor(propletId), { id: 'trap', name: 'boom', state: 0, file: b64(await wat(TRAP)), inputs: [], proplet_id: propletId });
    await plane.publish(topics.startFor(propletId), { id: 'good', name: 'add', state: 0, file: add, inputs: ['20', '22'], proplet_id: propletId });
    expect((await plane.next('/control/proplet/results', mine('junk'))).json['error']).toMatch(/^invalid module: not WebAssembly/);
    expect((await plane.next('/control/proplet/results', mine('trap'))).json['error']).toBe('trap: unreachable');
    expect((await plane.next('/control/proplet/results', mine('good'))).json).toMatchObject({ results: '42' });
    expect(plane.matching('/control/proplet/results', mine('good'))[0]?.json['error']).toBeUndefined();
  });

  it('fetches a module named by image_url over registry/* in chunks', async () => {
    const bytes = await wat(ADD);
    await plane.publish(topics.startFor(propletId), { id: 'reg-1', name: 'add', state: 0, image_url: 'examples/add', inputs: ['7', '8'], proplet_id: propletId });
    const request = await plane.next('/registry/proplet', (j) => j['app_name'] === 'examples/add');
    expect(request.topic).toBe(topics.registryRequest);
    for (const chunk of buildRegistryChunks(channel, 'examples/add', bytes, 16)) await plane.client.publishAsync(chunk.topic, chunk.payload, { qos: 1 });
    expect((await plane.next('/control/proplet/results', mine('reg-1'))).json).toMatchObject({ results: '15' });
  });

  it('when its connection drops, the broker publishes its offline last-will, and it reconnects and registers again', async () => {
    const creates = plane.matching('/control/proplet/create', (j) => j['proplet_id'] === propletId).length;
    // Cut the TCP connection under the client, as a network failure would (no DISCONNECT sent).
    (agent as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    const will = await plane.next('/control/proplet/alive', (j) => j['proplet_id'] === propletId && j['status'] === 'offline');
    expect(will.json).toEqual({ proplet_id: propletId, status: 'offline' });
    await waitFor(() => plane.matching('/control/proplet/create', (j) => j['proplet_id'] === propletId).length > creates, 'a second create', 10_000);
    await waitFor(() => agent.connected, 'the agent to be connected again');
    await plane.publish(topics.startFor(propletId), { id: 'after-reconnect', name: 'add', state: 0, file: add, inputs: ['4', '5'], proplet_id: propletId });
    expect((await plane.next('/control/proplet/results', mine('after-reconnect'))).json).toMatchObject({ results: '9' });
  });
});
