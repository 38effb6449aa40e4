import { Kvm, type KV } from '@nats-io/kv';
import { connectTest } from '@propeller/eventstore/testing';
import { livenessKey, PropletLivenessSchema } from '@propeller/events';
import { getProplet } from '@propeller/read-models';
import { API_VERSION, type PropletResource, type TaskResource } from '../crd/types';
import { PROPLET_LABEL } from '../reconcile/deployment';
import { taskDefinitionOf, taskIdOf } from '../reconcile/task-plan';
import { TEST_CONFIG } from '../testing/builders';
import { eventually, Harness, kubeTarget, type KubeTarget } from '../testing/kube-harness';
import { openPropellerWorld, type PropellerWorld } from '../testing/propeller-world';
import { KubeApi } from './kube';
import { NatsPropellerPort } from './nats-propeller';
import { Operator } from './operator';

/**
 * The operator with the real NATS `PropellerPort` against the real registry and scheduler
 * (in-process, on this file's own NATS prefix and Postgres schema) and the in-repo FAKE API server
 * (or the KUBECONFIG cluster when set; the case that plays the kubelet needs the fake). The test
 * plays only the health judge, through the registry's fenced `proplet.changeHealth`.
 */

let world: PropellerWorld;
let target: KubeTarget;
let admin: Harness;
let liveness: KV;

beforeAll(async () => {
  world = await openPropellerWorld();
  target = await kubeTarget();
  admin = new Harness(target.admin);
  liveness = await new Kvm(world.nc).open(world.names.kv.liveness);
});
afterAll(async () => {
  await target?.close();
  await world?.close();
});

const itOnFake = process.env['KUBECONFIG'] ? it.skip : it;

interface Agent {
  operator: Operator;
  port: NatsPropellerPort;
  stop(): Promise<void>;
}
const running = new Set<Agent>();
afterEach(async () => {
  for (const a of running) await a.stop();
  running.clear();
});

/** Starts the port (caught up with the log) and then the operator, as main.ts does. */
async function startAgent(ns: string, identity = `agent-${ns}`): Promise<Agent> {
  const port = await NatsPropellerPort.start({ nc: world.nc, names: world.names, writer: identity });
  const operator = new Operator({
    kube: new KubeApi(target.operator, ns),
    port,
    config: TEST_CONFIG,
    identity,
    leaseNamespace: target.fake ? target.leaseNamespace : ns,
    leaseName: `lease-${ns}`,
    leaseDurationSeconds: 1,
    leaseRetryPeriodMs: 100,
    resyncMs: 500,
    informerBackoffMs: { base: 50, max: 400 },
    queueBackoffMs: { base: 50, max: 400 },
  });
  await operator.start();
  await eventually(() => operator.isLeader, (l) => l);
  const agent: Agent = {
    operator,
    port,
    async stop() {
      running.delete(agent);
      await operator.stop();
      await port.stop();
    },
  };
  running.add(agent);
  return agent;
}

const proplet = (ns: string, name: string) => admin.get('proplets', ns, name) as Promise<PropletResource>;
const taskCr = (ns: string, name: string) => admin.get('tasks', ns, name) as Promise<TaskResource>;
const eventTypes = async (aggregate: 'proplet' | 'task', id: string) => (await world.events(aggregate, id)).map((e) => e.type);

const externalProplet = (name: string, deviceType: string, capabilities: string[]) => ({
  apiVersion: API_VERSION,
  kind: 'Proplet',
  metadata: { name, labels: { 'propeller.io/site': 'lab' } },
  spec: { type: 'external', external: { deviceType, capabilities }, resources: { cpu: '1', memory: '512Mi' } },
});
const pinnedTask = (name: string, propletId: string) => ({
  apiVersion: API_VERSION,
  kind: 'Task',
  metadata: { name },
  spec: { name: 'add', file: 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', inputs: [10, 32], propletSelector: { propletId } },
});

describe('k8s-agent with the NATS PropellerPort, the real registry and scheduler, and the fake API server', () => {
  it('pre-registers an external Proplet with the CR device type, capabilities and owner, and its phase follows the judged health', async () => {
    const ns = await target.newNamespace();
    await startAgent(ns);
    const created = await admin.create('proplets', ns, externalProplet('esp32-sensor-node', 'esp32', ['sensor', 'temperature']));

    const row = await eventually(() => getProplet(world.db, 'esp32-sensor-node'), (p) => p !== undefined && p.labels['propeller.io/site'] === 'lab');
    expect(row).toMatchObject({
      type: 'external',
      deviceType: 'esp32',
      capabilities: ['sensor', 'temperature'],
      dialect: 'wamr',
      capacity: { cpu: '1', memory: '512Mi' },
      owner: { namespace: ns, name: 'esp32-sensor-node', uid: created.metadata.uid },
    });
    expect((await eventTypes('proplet', 'esp32-sensor-node')).filter((t) => t === 'PropletRegistered')).toHaveLength(1);
    await eventually(() => proplet(ns, 'esp32-sensor-node'), (p) => p.status?.phase === 'Initializing');

    await world.judge('esp32-sensor-node', 'healthy');
    const up = await eventually(() => proplet(ns, 'esp32-sensor-node'), (p) => p.status?.phase === 'Running');
    expect(up.status?.availableResources).toEqual({ cpu: '1', memory: '512Mi' });
    await world.judge('esp32-sensor-node', 'offline');
    await eventually(() => proplet(ns, 'esp32-sensor-node'), (p) => p.status?.phase === 'Offline');
  });

  it('creates exactly one task per Task CR, also across an operator restart, and its status follows the task events to Completed', async () => {
    const ns = await target.newNamespace();
    const first = await startAgent(ns);
    const created = await admin.create('tasks', ns, pinnedTask('pinned-add', 'rpi-pinned'));
    const id = taskIdOf(created.metadata.uid);

    // Pinned to a proplet that does not exist yet: the scheduler keeps it pending.
    const pending = await eventually(() => taskCr(ns, 'pinned-add'), (t) => t.status?.taskId === id && t.status.phase === 'Pending');
    expect(pending.status?.attempts).toBe(0);
    await eventually(() => eventTypes('task', id), (types) => types.includes('TaskStarted'));

    await admin.create('proplets', ns, externalProplet('rpi-pinned', 'rpi', ['wasm']));
    await eventually(() => getProplet(world.db, 'rpi-pinned'), (p) => p !== undefined);
    await world.judge('rpi-pinned', 'healthy');
    const scheduled = await eventually(() => taskCr(ns, 'pinned-add'), (t) => t.status?.phase === 'Scheduled');
    expect(scheduled.status).toMatchObject({ taskId: id, assignedProplet: 'rpi-pinned', attempts: 1 });
    await eventually(() => proplet(ns, 'rpi-pinned'), (p) => p.status?.taskCount === 1);

    // A restart: a new port folds the log from scratch and a new operator reconciles every Task again.
    await first.stop();
    const second = await startAgent(ns, 'agent-restarted');
    expect(await second.port.getTask(id)).toMatchObject({ status: 'scheduled', assignedProplet: 'rpi-pinned' });
    await second.operator.reconcile(`Task:${ns}/pinned-add`);
    await second.operator.queue.idle();
    // And the scheduler itself treats a repeated task.create with the same id and spec as a no-op.
    await second.port.createTask(taskDefinitionOf(await taskCr(ns, 'pinned-add')));
    const types = await eventTypes('task', id);
    expect(types.filter((t) => t === 'TaskCreated')).toHaveLength(1);
    expect(types.filter((t) => t === 'TaskStarted')).toHaveLength(1);
    expect((await taskCr(ns, 'pinned-add')).status?.phase).toBe('Scheduled');

    // The test plays the gateway: the proplet reports the start, then the result.
    const wireId = ((await world.events('task', id)).find((e) => e.type === 'TaskScheduled')?.data as { wireId?: string } | undefined)?.wireId;
    await world.send('task.recordStarted', { taskId: id, wireId, propletId: 'rpi-pinned' });
    await eventually(() => taskCr(ns, 'pinned-add'), (t) => t.status?.phase === 'Running' && t.status.startTime !== undefined);
    await world.send('task.recordResult', { taskId: id, wireId, propletId: 'rpi-pinned', results: '42' });
    const done = await eventually(() => taskCr(ns, 'pinned-add'), (t) => t.status?.phase === 'Completed');
    expect(done.status).toMatchObject({ results: '42', assignedProplet: 'rpi-pinned', attempts: 1 });
    expect(done.status?.completionTime).toBeDefined();
    await eventually(() => proplet(ns, 'rpi-pinned'), (p) => p.status?.taskCount === 0);
  });

  it('stops the task when its Task CR is deleted, and lets the CR go', async () => {
    const ns = await target.newNamespace();
    const { port } = await startAgent(ns);
    const created = await admin.create('tasks', ns, pinnedTask('doomed', 'nowhere'));
    const id = taskIdOf(created.metadata.uid);
    await eventually(() => port.getTask(id), (t) => t?.status === 'pending');
    await admin.delete('tasks', ns, 'doomed');
    await eventually(() => eventTypes('task', id), (types) => types.includes('TaskStopped'));
    expect((await world.events('task', id)).find((e) => e.type === 'TaskStopped')?.data).toMatchObject({ reason: 'TaskDeleted' });
    await eventually(() => admin.find('tasks', ns, 'doomed'), (t) => t === undefined);
  });

  it('says so on its health check when its event consumer ends without being stopped', async () => {
    const nc = await connectTest('k8s-agent-lost');
    const port = await NatsPropellerPort.start({ nc, names: world.names, writer: 'lost' });
    expect(port.following).toBe(true);
    await nc.close();
    await eventually(() => port.following, (f) => !f);
    await port.stop();
  });

  itOnFake('writes pod readiness to the liveness KV and deregisters the proplet of a deleted pod at once', async () => {
    // Plays the kubelet: creates the pod and writes its readiness.
    const ns = await target.newNamespace();
    await startAgent(ns);
    const pool = await admin.create('proplets', ns, {
      apiVersion: API_VERSION,
      kind: 'Proplet',
      metadata: { name: 'pool' },
      spec: { type: 'k8s', k8s: { image: 'ghcr.io/absmach/propeller/proplet:v1', replicas: 1 }, resources: { cpu: '1', memory: '1Gi' } },
    });
    await eventually(() => admin.deployment(ns, 'pool-proplet'), (d) => d !== undefined);
    const pod = `pool-proplet-${ns}`;
    await admin.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: pod, labels: { [PROPLET_LABEL]: 'pool' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } },
    });

    const row = await eventually(() => getProplet(world.db, pod), (p) => p !== undefined);
    expect(row).toMatchObject({ type: 'k8s', owner: { namespace: ns, name: 'pool', uid: pool.metadata.uid }, capacity: { cpu: '1', memory: '1Gi' } });
    const readLiveness = async () => {
      const entry = await liveness.get(livenessKey(pod));
      return entry ? PropletLivenessSchema.parse(entry.json()) : undefined;
    };
    expect(await eventually(readLiveness, (l) => l !== undefined)).toMatchObject({ status: 'offline', source: 'podReadiness', writer: `agent-${ns}` });

    await admin.core.replaceNamespacedPodStatus({
      namespace: ns,
      name: pod,
      body: { metadata: { name: pod, labels: { [PROPLET_LABEL]: 'pool' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    await eventually(readLiveness, (l) => l?.status === 'alive');

    await admin.core.deleteNamespacedPod({ namespace: ns, name: pod });
    // The read model lists registered proplets only: the row leaves once the deregistration is applied.
    await eventually(() => getProplet(world.db, pod), (p) => p === undefined);
    expect((await world.events('proplet', pod)).at(-1)).toMatchObject({ type: 'PropletDeregistered', data: { reason: 'PodDeleted' } });
  });
});
