import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../crd/types';
import { httpStatusOf, KubeApi } from '../adapter/kube';
import { FAKE_ADMIN_TOKEN, FAKE_OPERATOR_TOKEN, FakeApiServer } from './fake-apiserver';
import { eventually, Harness } from './kube-harness';

/** The FAKE API server keeps the rules the adapter relies on; these cases pin them down. */

const kc = (server: string, token: string): k8s.KubeConfig => {
  const c = new k8s.KubeConfig();
  c.loadFromOptions({ clusters: [{ name: 'f', server, skipTLSVerify: true }], users: [{ name: 'u', token }], contexts: [{ name: 'f', cluster: 'f', user: 'u' }], currentContext: 'f' });
  return c;
};

const codeOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try {
    await p;
    return 200;
  } catch (e) {
    return httpStatusOf(e);
  }
};

const task = (name: string) => ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'Task', metadata: { name }, spec: { name, imageUrl: 'x' } });

describe('FakeApiServer', () => {
  let fake: FakeApiServer;
  let admin: Harness;
  let operator: KubeApi;

  beforeAll(async () => {
    fake = await FakeApiServer.start();
    admin = new Harness(kc(fake.url, FAKE_ADMIN_TOKEN));
    operator = new KubeApi(kc(fake.url, FAKE_OPERATOR_TOKEN), 'ns1');
  });
  afterAll(() => fake.stop());

  it('answers 409 to a write carrying a stale resourceVersion', async () => {
    const created = await admin.create('tasks', 'ns1', task('stale'));
    await admin.patch('tasks', 'ns1', 'stale', { metadata: { labels: { a: 'b' } } });
    const code = await codeOf(operator.patchCr('Task', 'ns1', 'stale', { metadata: { finalizers: ['x'], resourceVersion: created.metadata.resourceVersion } }));
    expect(code).toBe(409);
  });

  it('answers 409 AlreadyExists to a second create', async () => {
    await admin.create('tasks', 'ns1', task('twice'));
    expect(await codeOf(admin.create('tasks', 'ns1', task('twice')))).toBe(409);
  });

  it('ignores spec changes sent to /status and status changes sent to the main resource', async () => {
    await admin.create('tasks', 'ns1', { ...task('split'), status: { phase: 'Running' } });
    expect((await admin.get('tasks', 'ns1', 'split')).status).toBeUndefined();
    await admin.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: 'tasks', namespace: 'ns1', name: 'split', body: { spec: { name: 'changed' }, status: { phase: 'Scheduled' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await admin.patch('tasks', 'ns1', 'split', { status: { phase: 'Failed' } });
    const got = await admin.get('tasks', 'ns1', 'split');
    expect(got.spec.name).toBe('split');
    expect(got.status?.phase).toBe('Scheduled');
  });

  it('answers 404 for a deleted object, after its finalizers are gone', async () => {
    await admin.create('tasks', 'ns1', { ...task('fin'), metadata: { name: 'fin', finalizers: ['f'] } });
    await admin.delete('tasks', 'ns1', 'fin');
    expect((await admin.get('tasks', 'ns1', 'fin')).metadata.deletionTimestamp).toBeDefined();
    await admin.patch('tasks', 'ns1', 'fin', { metadata: { finalizers: null } });
    expect(await codeOf(admin.get('tasks', 'ns1', 'fin'))).toBe(404);
  });

  it('answers 403 to the operator for a call deploy/rbac.yaml does not grant, and allows the ones it does', async () => {
    const opCore = kc(fake.url, FAKE_OPERATOR_TOKEN).makeApiClient(k8s.CoreV1Api);
    expect(await codeOf(opCore.deleteNamespacedPod({ namespace: 'ns1', name: 'any' }))).toBe(403);
    expect(await codeOf(opCore.createNamespacedPod({ namespace: 'ns1', body: { metadata: { name: 'p' } } }))).toBe(403);
    // Leases are granted only in propeller-system (a Role, not the ClusterRole).
    expect(await codeOf(operator.getLease('ns1', 'x'))).toBe(403);
    expect(await codeOf(operator.getLease('propeller-system', 'x'))).toBe(404);
    expect(await codeOf(operator.listCrs('Task'))).toBe(200);
  });

  it('sends 410 Gone to a watch from a compacted resourceVersion', async () => {
    const old = fake.resourceVersion;
    await admin.create('tasks', 'ns1', task('after-compaction'));
    fake.compact();
    const events: Array<{ type: string; code?: number }> = [];
    let done = false;
    await new k8s.Watch(kc(fake.url, FAKE_ADMIN_TOKEN)).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/ns1/tasks`,
      { resourceVersion: old },
      (type, obj) => events.push({ type, code: (obj as { code?: number }).code }),
      () => (done = true),
    );
    await eventually(() => done, (d) => d);
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);
  });

  it('streams changes after the watched resourceVersion', async () => {
    const from = fake.resourceVersion;
    const seen: string[] = [];
    const ctrl = await new k8s.Watch(kc(fake.url, FAKE_ADMIN_TOKEN)).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/ns1/tasks`,
      { resourceVersion: from },
      (type, obj) => seen.push(`${type} ${(obj as { metadata: { name: string } }).metadata.name}`),
      () => undefined,
    );
    await admin.create('tasks', 'ns1', task('streamed'));
    await admin.delete('tasks', 'ns1', 'streamed');
    await eventually(() => seen, (s) => s.length >= 2);
    ctrl.abort();
    expect(seen).toEqual(['ADDED streamed', 'DELETED streamed']);
  });
});
