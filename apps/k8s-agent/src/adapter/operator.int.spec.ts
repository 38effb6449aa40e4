import { CoordinationV1Api } from '@kubernetes/client-node';
import { API_VERSION, FINALIZER, type PropletResource, type TaskResource } from '../crd/types';
import { ADAPTER_CALLS } from './api-calls';
import { applyActions } from './apply';
import { KubeEventSink } from './events';
import { serveMetrics, serveProbes } from './http';
import { KubeApi } from './kube';
import { Operator } from './operator';
import { FakePropeller } from '../testing/fake-propeller';
import { eventually, Harness, kubeTarget, type KubeTarget } from '../testing/kube-harness';
import type { FakeApiServer } from '../testing/fake-apiserver';
import { TEST_CONFIG } from '../testing/builders';
import { taskIdOf } from '../reconcile/task-plan';
import { PROPLET_LABEL } from '../reconcile/deployment';

/**
 * The adapter (real @kubernetes/client-node calls) against the in-repo FAKE API server, or against
 * the cluster of KUBECONFIG when it is set. Cases that need to play the kubelet, compact the watch
 * history or inject failures only run on the fake; each says why. Propeller itself is the
 * in-memory FakePropeller, so each case can play the scheduler and the health monitor exactly;
 * nats-propeller.int.spec.ts runs the operator on the real NATS port, registry and scheduler.
 *
 * The suffix is .int.spec.ts because it runs a real HTTP server and real client; it needs no NATS.
 */

let target: KubeTarget;
let admin: Harness;

beforeAll(async () => {
  target = await kubeTarget();
  admin = new Harness(target.admin);
});
afterAll(() => target.close());

/**
 * Cases that play the kubelet and controllers, compact the watch history, inject failures or read
 * the fake's audit can only run on the fake; against a KUBECONFIG cluster they are reported as
 * skipped rather than passing without assertions.
 */
const itOnFake = process.env['KUBECONFIG'] ? it.skip : it;
const fakeOf = (t: KubeTarget): FakeApiServer => {
  if (!t.fake) throw new Error('this case needs the fake API server');
  return t.fake;
};

interface Running {
  operator: Operator;
  port: FakePropeller;
  ns: string;
}

const started: Operator[] = [];
afterEach(async () => {
  for (const o of started.splice(0)) await o.stop();
});

async function startOperator(opts: { ns?: string; port?: FakePropeller; identity?: string; leaseName?: string } = {}): Promise<Running> {
  const ns = opts.ns ?? (await target.newNamespace());
  const port = opts.port ?? new FakePropeller();
  const operator = new Operator({
    kube: new KubeApi(target.operator, ns),
    port,
    config: TEST_CONFIG,
    identity: opts.identity ?? `agent-${ns}`,
    leaseNamespace: target.fake ? target.leaseNamespace : ns,
    leaseName: opts.leaseName ?? `lease-${ns}`,
    leaseDurationSeconds: 1,
    leaseRetryPeriodMs: 100,
    resyncMs: 500,
    informerBackoffMs: { base: 50, max: 400 },
    queueBackoffMs: { base: 50, max: 400 },
  });
  started.push(operator);
  await operator.start();
  await eventually(() => operator.isLeader, (l) => l);
  return { operator, port, ns };
}

const k8sProplet = (name: string, replicas: number, image = 'ghcr.io/absmach/propeller/proplet:v1') => ({
  apiVersion: API_VERSION,
  kind: 'Proplet',
  metadata: { name },
  spec: { type: 'k8s', k8s: { image, replicas }, resources: { cpu: '1', memory: '1Gi' } },
});
const externalProplet = (name: string) => ({
  apiVersion: API_VERSION,
  kind: 'Proplet',
  metadata: { name },
  spec: { type: 'external', external: { deviceType: 'esp32', capabilities: ['sensor'] } },
});
const addTask = (name: string) => ({
  apiVersion: API_VERSION,
  kind: 'Task',
  metadata: { name },
  spec: { name: 'add', file: 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', inputs: [10, 32] },
});

const proplet = (ns: string, name: string) => admin.get('proplets', ns, name) as Promise<PropletResource>;
const taskCr = (ns: string, name: string) => admin.get('tasks', ns, name) as Promise<TaskResource>;
const reasons = async (ns: string, name: string) => (await admin.eventsOf(ns, name)).map((e) => e.reason);

describe(`k8s-agent adapter against the ${process.env['KUBECONFIG'] ? 'KUBECONFIG cluster' : 'fake API server'}`, () => {
  it('creates the Deployment of a k8s Proplet, adds the finalizer and writes status through the status subresource', async () => {
    const { ns } = await startOperator();
    const created = await admin.create('proplets', ns, k8sProplet('k8s-worker-pool', 3));
    const d = await eventually(() => admin.deployment(ns, 'k8s-worker-pool-proplet'), (x) => x !== undefined);
    expect(d?.spec?.replicas).toBe(3);
    expect(d?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Proplet', name: 'k8s-worker-pool', uid: created.metadata.uid, controller: true });
    const cr = await eventually(() => proplet(ns, 'k8s-worker-pool'), (p) => p.status?.replicaSummary === '0/3');
    expect(cr.metadata.finalizers).toContain(FINALIZER);
    expect(cr.status).toMatchObject({ phase: 'Initializing', replicas: 3, readyReplicas: 0 });
    expect(cr.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ReplicasNotReady' });
    await eventually(() => reasons(ns, 'k8s-worker-pool'), (r) => r.includes('DeploymentCreated'));
  });

  it('scales the Deployment and updates its image when the Proplet spec changes', async () => {
    const { ns } = await startOperator();
    await admin.create('proplets', ns, k8sProplet('pool', 2, 'proplet:v1'));
    await eventually(() => admin.deployment(ns, 'pool-proplet'), (x) => x !== undefined);
    await admin.patch('proplets', ns, 'pool', { spec: { k8s: { replicas: 4 } } });
    await eventually(() => admin.deployment(ns, 'pool-proplet'), (x) => x?.spec?.replicas === 4);
    await admin.patch('proplets', ns, 'pool', { spec: { k8s: { image: 'proplet:v2' } } });
    const d = await eventually(() => admin.deployment(ns, 'pool-proplet'), (x) => x?.spec?.template.spec?.containers[0]?.image === 'proplet:v2');
    expect(d?.spec?.replicas).toBe(4);
    const r = await eventually(() => reasons(ns, 'pool'), (x) => x.includes('Scaled') && x.includes('DeploymentUpdated'));
    expect(r).toEqual(expect.arrayContaining(['DeploymentCreated', 'Scaled', 'DeploymentUpdated']));
  });

  itOnFake('registers each pod, follows readiness and the Deployment, and deregisters a deleted pod at once', async () => {
    // Plays the kubelet and the Deployment controller (creates pods, writes their status).
    const { ns, port } = await startOperator();
    await admin.create('proplets', ns, k8sProplet('pool', 1));
    const d = await eventually(() => admin.deployment(ns, 'pool-proplet'), (x) => x !== undefined);
    await admin.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'pool-proplet-abc', labels: { [PROPLET_LABEL]: 'pool' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    await admin.apps.replaceNamespacedDeploymentStatus({ namespace: ns, name: 'pool-proplet', body: { ...(d as object), status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 } } });
    await eventually(() => port.registrationOf('pool-proplet-abc'), (r) => r !== undefined);
    expect(port.registrationOf('pool-proplet-abc')).toMatchObject({ type: 'k8s', owner: { namespace: ns, name: 'pool' } });
    await eventually(() => port.liveness.get('pool-proplet-abc')?.status, (s) => s === 'alive');
    port.setProplet('pool-proplet-abc', { health: 'healthy', lastSeenAt: new Date().toISOString(), taskCount: 1 });
    const cr = await eventually(() => proplet(ns, 'pool'), (p) => p.status?.phase === 'Running');
    expect(cr.status).toMatchObject({ readyReplicas: 1, replicaSummary: '1/1', taskCount: 1, propletIds: ['pool-proplet-abc'] });
    expect(cr.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=True', 'Connected=True', 'Healthy=True']);

    await admin.core.deleteNamespacedPod({ namespace: ns, name: 'pool-proplet-abc' });
    await eventually(() => port.getProplet('pool-proplet-abc'), (p) => p?.health === 'deregistered');
    expect(port.calls).toContain('deregisterProplet(pool-proplet-abc)');
  });

  it('pre-registers an external proplet and follows its health from the registry', async () => {
    const { ns, port } = await startOperator();
    await admin.create('proplets', ns, externalProplet('esp32-sensor-node'));
    await eventually(() => port.registrationOf('esp32-sensor-node'), (r) => r !== undefined);
    expect(port.registrationOf('esp32-sensor-node')).toMatchObject({ type: 'external', deviceType: 'esp32', capabilities: ['sensor'] });
    port.setProplet('esp32-sensor-node', { health: 'healthy', lastSeenAt: new Date().toISOString() });
    await eventually(() => proplet(ns, 'esp32-sensor-node'), (p) => p.status?.phase === 'Running');
    port.setProplet('esp32-sensor-node', { health: 'offline' });
    await eventually(() => proplet(ns, 'esp32-sensor-node'), (p) => p.status?.phase === 'Offline');
    const events = await eventually(() => admin.eventsOf(ns, 'esp32-sensor-node'), (e) => e.some((x) => x.reason === 'Offline'));
    expect(events.find((e) => e.reason === 'Offline')?.type).toBe('Warning');
    expect(events.map((e) => e.reason)).toContain('Registered');
  });

  it('creates one task per Task CR, starts it at once and writes its state back to status', async () => {
    const { ns, port } = await startOperator();
    const created = await admin.create('tasks', ns, addTask('add'));
    const id = taskIdOf(created.metadata.uid);
    await eventually(() => port.getTask(id), (t) => t?.status === 'pending');
    expect(port.tasks()[0]).toMatchObject({ id, functionName: 'add', inputs: [10, 32], owner: { namespace: ns, name: 'add' } });
    await eventually(() => taskCr(ns, 'add'), (t) => t.status?.taskId === id && t.status.phase === 'Pending');

    port.setTask(id, { status: 'running', assignedProplet: 'rpi-1', attempts: 1, startedAt: '2026-11-27T14:00:00.000Z' });
    await eventually(() => taskCr(ns, 'add'), (t) => t.status?.phase === 'Running');
    port.setTask(id, { status: 'completed', results: '42', completedAt: '2026-11-27T14:00:01.000Z' });
    const done = await eventually(() => taskCr(ns, 'add'), (t) => t.status?.phase === 'Completed');
    expect(done.status).toMatchObject({ assignedProplet: 'rpi-1', attempts: 1, results: '42', completionTime: '2026-11-27T14:00:01.000Z' });
    const r = await eventually(() => reasons(ns, 'add'), (x) => x.includes('Created') && x.includes('Completed'));
    expect(r.filter((x) => x === 'Created')).toHaveLength(1);
  });

  it('creates the task only once across an operator restart', async () => {
    const port = new FakePropeller();
    const first = await startOperator({ port });
    const created = await admin.create('tasks', first.ns, addTask('once'));
    await eventually(() => taskCr(first.ns, 'once'), (t) => t.status?.taskId !== undefined);
    await first.operator.stop();
    started.splice(started.indexOf(first.operator), 1);

    const second = await startOperator({ ns: first.ns, port, identity: 'agent-restarted' });
    await second.operator.queue.idle();
    await second.operator.reconcile(`Task:${first.ns}/once`);
    expect(port.tasks().map((t) => t.id)).toEqual([taskIdOf(created.metadata.uid)]);
    expect(port.calls.filter((c) => c.startsWith('createTask'))).toHaveLength(1);
  });

  it('stops the task and lets the Task CR go when it is deleted', async () => {
    const { ns, port } = await startOperator();
    const created = await admin.create('tasks', ns, addTask('doomed'));
    const id = taskIdOf(created.metadata.uid);
    await eventually(() => taskCr(ns, 'doomed'), (t) => (t.metadata.finalizers ?? []).includes(FINALIZER));
    await admin.delete('tasks', ns, 'doomed');
    await eventually(() => port.getTask(id), (t) => t?.status === 'stopped');
    await eventually(() => admin.find('tasks', ns, 'doomed'), (t) => t === undefined);
  });

  it('deletes the Deployment and deregisters the proplets when a Proplet CR is deleted', async () => {
    const { ns, port } = await startOperator();
    await admin.create('proplets', ns, externalProplet('gone-device'));
    await eventually(() => proplet(ns, 'gone-device'), (p) => (p.metadata.finalizers ?? []).includes(FINALIZER) && p.status?.propletIds !== undefined);
    await admin.create('proplets', ns, k8sProplet('gone-pool', 1));
    await eventually(() => admin.deployment(ns, 'gone-pool-proplet'), (d) => d !== undefined);
    await eventually(() => proplet(ns, 'gone-pool'), (p) => (p.metadata.finalizers ?? []).includes(FINALIZER));
    await admin.delete('proplets', ns, 'gone-device');
    await admin.delete('proplets', ns, 'gone-pool');
    await eventually(() => port.getProplet('gone-device'), (p) => p?.health === 'deregistered');
    await eventually(() => admin.deployment(ns, 'gone-pool-proplet'), (d) => d === undefined);
    await eventually(() => admin.find('proplets', ns, 'gone-pool'), (p) => p === undefined);
  });

  itOnFake('plans from its own last status write while the informer lags, so it repeats neither the write nor the Event', async () => {
    const fake = fakeOf(target);
    const { ns, port, operator } = await startOperator();
    const created = await admin.create('tasks', ns, addTask('laggy'));
    const id = taskIdOf(created.metadata.uid);
    await eventually(() => operator.task(ns, 'laggy')?.status?.phase, (p) => p === 'Pending');
    fake.holdWatchEvents();
    try {
      port.setTask(id, { status: 'running', assignedProplet: 'p1', attempts: 1 });
      await eventually(() => taskCr(ns, 'laggy'), (t) => t.status?.phase === 'Running');
      await operator.queue.idle();
      const statusWrites = () => fake.audit.filter((a) => a.resource === 'tasks/status' && a.path.endsWith('/laggy/status')).length;
      const before = statusWrites();
      // The cache still says Pending; a reconcile now must not write Running again or record a second event.
      await operator.reconcile(`Task:${ns}/laggy`);
      expect(operator.task(ns, 'laggy')?.status?.phase).toBe('Pending');
      expect(statusWrites()).toBe(before);
      expect((await reasons(ns, 'laggy')).filter((r) => r === 'Running')).toHaveLength(1);
    } finally {
      fake.releaseWatchEvents();
    }
  });

  it('re-reads and retries a finalizer write that meets 409 on a stale resourceVersion', async () => {
    const ns = await target.newNamespace();
    const created = await admin.create('tasks', ns, addTask('stale'));
    await admin.patch('tasks', ns, 'stale', { metadata: { labels: { touched: 'yes' } } });
    const kube = new KubeApi(target.operator, ns);
    const staleView = { apiVersion: API_VERSION, kind: 'Task' as const, metadata: { name: 'stale', namespace: ns, uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion, finalizers: [] } };
    await applyActions([{ type: 'addFinalizer', target: { kind: 'Task', namespace: ns, name: 'stale' } }], staleView, { kube, port: new FakePropeller(), events: new KubeEventSink(kube, 'test') });
    const after = await taskCr(ns, 'stale');
    expect(after.metadata.finalizers).toEqual([FINALIZER]);
    expect(after.metadata.labels).toEqual({ touched: 'yes' });
    if (target.fake) {
      const patches = target.fake.audit.filter((a) => a.token === 'fake-operator-token' && a.path.endsWith(`/namespaces/${ns}/tasks/stale`) && a.verb === 'patch').map((a) => a.status);
      expect(patches).toEqual([409, 200]);
    }
    await admin.patch('tasks', ns, 'stale', { metadata: { finalizers: null } });
  });

  itOnFake('restarts its watches when the API server closes them, and relists after 410 Gone', async () => {
    const fake = fakeOf(target);
    const { ns, port } = await startOperator();
    await admin.create('tasks', ns, addTask('before'));
    await eventually(() => port.tasks().length, (n) => n === 1);
    const listsBefore = fake.audit.filter((a) => a.verb === 'list' && a.path.includes(`/namespaces/${ns}/tasks`)).length;
    fake.compact();
    fake.closeWatches();
    await admin.create('tasks', ns, addTask('after'));
    await eventually(() => port.tasks().length, (n) => n === 2);
    const listsAfter = fake.audit.filter((a) => a.verb === 'list' && a.path.includes(`/namespaces/${ns}/tasks`)).length;
    expect(listsAfter).toBeGreaterThan(listsBefore);
  });

  itOnFake('restarts an informer with backoff after its list fails', async () => {
    const fake = fakeOf(target);
    const ns = await target.newNamespace();
    fake.failNext(`/namespaces/${ns}/tasks`, 500, 2, 'GET');
    const { port } = await startOperator({ ns });
    await admin.create('tasks', ns, addTask('late'));
    await eventually(() => port.tasks().length, (n) => n === 1);
    const codes = fake.audit.filter((a) => a.path.endsWith(`/namespaces/${ns}/tasks`) && a.verb === 'list').map((a) => a.status);
    expect(codes.slice(0, 3)).toEqual([500, 500, 200]);
  });

  it('lets only the Lease holder reconcile, and a second replica takes over when the first stops', async () => {
    const ns = await target.newNamespace();
    const port = new FakePropeller();
    const a = await startOperator({ ns, port, identity: 'replica-a', leaseName: `lease-${ns}` });
    const b = new Operator({
      kube: new KubeApi(target.operator, ns),
      port,
      config: TEST_CONFIG,
      identity: 'replica-b',
      leaseNamespace: target.fake ? target.leaseNamespace : ns,
      leaseName: `lease-${ns}`,
      leaseDurationSeconds: 1,
      leaseRetryPeriodMs: 100,
    });
    started.push(b);
    await b.start();
    expect(a.operator.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    await a.operator.stop();
    started.splice(started.indexOf(a.operator), 1);
    await eventually(() => b.isLeader, (l) => l, 5000);
    await admin.create('tasks', ns, addTask('after-failover'));
    await eventually(() => port.tasks().length, (n) => n === 1);
  });

  it('takes over a Lease whose holder stopped renewing without releasing it', async () => {
    const ns = await target.newNamespace();
    const leaseNamespace = target.fake ? target.leaseNamespace : ns;
    const coordination = target.admin.makeApiClient(CoordinationV1Api);
    const stale = new Date(Date.now() - 60_000).toISOString().replace('Z', '000Z');
    await coordination.createNamespacedLease({
      namespace: leaseNamespace,
      body: { metadata: { name: `lease-${ns}` }, spec: { holderIdentity: 'crashed-replica', leaseDurationSeconds: 1, renewTime: stale as never, leaseTransitions: 3 } },
    });
    await startOperator({ ns, identity: 'survivor' });
    const lease = await coordination.readNamespacedLease({ namespace: leaseNamespace, name: `lease-${ns}` });
    expect(lease.spec).toMatchObject({ holderIdentity: 'survivor', leaseTransitions: 4 });
  });

  it('serves propeller_proplets_total and propeller_tasks_total on /metrics and readiness on /readyz', async () => {
    const { ns, operator } = await startOperator();
    await admin.create('proplets', ns, externalProplet('metered'));
    await admin.create('tasks', ns, addTask('metered'));
    await eventually(() => taskCr(ns, 'metered'), (t) => t.status?.phase === 'Pending');
    await eventually(() => proplet(ns, 'metered'), (p) => p.status?.phase === 'Initializing');
    const metrics = await serveMetrics(operator.metrics, 0);
    const probes = await serveProbes({ live: () => true, ready: () => operator.ready }, 0);
    try {
      const body = await eventually(
        () => fetch(`http://127.0.0.1:${metrics.port}/metrics`).then((r) => r.text()),
        (b) => b.includes('propeller_proplets_total{type="external",phase="Initializing"} 1'),
      );
      expect(body).toContain('propeller_tasks_total{type="any",phase="Pending"} 1');
      expect(body).toContain('propeller_k8s_leader 1');
      expect((await fetch(`http://127.0.0.1:${probes.port}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${probes.port}/nope`)).status).toBe(404);
    } finally {
      await metrics.close();
      await probes.close();
    }
  });

  itOnFake('made only calls that deploy/rbac.yaml grants and ADAPTER_CALLS declares', () => {
    // Runs last: it reads the fake's audit of every request the operator made in this file.
    const operatorCalls = fakeOf(target).audit.filter((a) => a.token === 'fake-operator-token');
    expect(operatorCalls.length).toBeGreaterThan(50);
    expect(operatorCalls.filter((a) => a.status === 403)).toEqual([]);
    const declaredCalls = new Set(ADAPTER_CALLS.map((c) => `${c.verb} ${c.resource}`));
    const undeclared = [...new Set(operatorCalls.map((a) => `${a.verb} ${a.resource}`))].filter((c) => !declaredCalls.has(c));
    expect(undeclared).toEqual([]);
  });
});
