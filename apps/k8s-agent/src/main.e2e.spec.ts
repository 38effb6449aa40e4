import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { bundleService, spawnNode, type SpawnedService } from '@propeller/service/testing';
import { API_VERSION, FINALIZER, type TaskResource } from './crd/types';
import { taskIdOf } from './reconcile/task-plan';
import { FAKE_ADMIN_TOKEN, FAKE_OPERATOR_TOKEN, FakeApiServer } from './testing/fake-apiserver';
import { eventually, Harness } from './testing/kube-harness';
import { openPropellerWorld, type PropellerWorld } from './testing/propeller-world';

// The k8s-agent as a process (bundled main.ts): it refuses to start without Kubernetes credentials,
// and with a kubeconfig (here: the in-repo FAKE API server) it runs the operator on the NATS port.

const kubeconfigYaml = (server: string, token: string, namespace: string): string =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    // The fake serves plain HTTP, which client-node accepts only with TLS verification off.
    `- name: fake\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
    'users:',
    `- name: operator\n  user:\n    token: ${token}`,
    'contexts:',
    `- name: fake\n  context:\n    cluster: fake\n    user: operator\n    namespace: ${namespace}`,
    'current-context: fake',
    '',
  ].join('\n');

describe('k8s-agent process', () => {
  let dir: string;
  let bundle: string;
  let service: SpawnedService | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-k8s-agent-e2e-'));
    bundle = bundleService(resolve(__dirname, 'main.ts'), join(dir, 'k8s-agent.cjs'));
  });
  afterEach(async () => {
    if (service) await service.stop('SIGKILL').catch(() => undefined);
    service = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits with status 1 and says which credentials it needs when it finds no kubeconfig', async () => {
    service = spawnNode(bundle, { cwd: dir, env: { HOME: dir, METRICS_PORT: '0', PROPELLER_K8S_PROBE_PORT: '0' } });
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    expect(service.stderr()).toContain('no Kubernetes credentials: set KUBECONFIG');
  });

  describe('with a kubeconfig', () => {
    let world: PropellerWorld;
    let fake: FakeApiServer;

    beforeAll(async () => {
      world = await openPropellerWorld();
      fake = await FakeApiServer.start();
    });
    afterAll(async () => {
      await fake?.stop();
      await world?.close();
    });

    it('starts the operator, turns a Task CR into one task with its status written back, and exits 0 on SIGTERM', async () => {
      const ns = 'e2e';
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, kubeconfigYaml(fake.url, FAKE_OPERATOR_TOKEN, ns));
      service = spawnNode(bundle, {
        cwd: dir,
        env: {
          HOME: dir,
          KUBECONFIG: kubeconfig,
          K8S_NAMESPACE: ns,
          POD_NAME: 'k8s-agent-e2e',
          POD_NAMESPACE: 'propeller-system',
          PROPELLER_NATS_PREFIX: world.names.prefix,
          METRICS_PORT: '0',
          PROPELLER_K8S_PROBE_PORT: '0',
        },
      });
      await service.waitForLog((l) => l['msg'] === 'k8s-agent started', 20_000);

      const adminKc = new KubeConfig();
      adminKc.loadFromOptions({
        clusters: [{ name: 'fake', server: fake.url, skipTLSVerify: true }],
        users: [{ name: 'admin', token: FAKE_ADMIN_TOKEN }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'admin', namespace: ns }],
        currentContext: 'fake',
      });
      const admin = new Harness(adminKc);
      const created = await admin.create('tasks', ns, {
        apiVersion: API_VERSION,
        kind: 'Task',
        metadata: { name: 'add' },
        spec: { name: 'add', file: 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', inputs: [10, 32] },
      });
      const id = taskIdOf(created.metadata.uid);
      const cr = await eventually(() => admin.get('tasks', ns, 'add') as Promise<TaskResource>, (t) => t.status?.taskId === id && t.status.phase === 'Pending', 15_000);
      expect(cr.metadata.finalizers).toContain(FINALIZER);
      const types = (await world.events('task', id)).map((e) => e.type);
      expect(types.slice(0, 2)).toEqual(['TaskCreated', 'TaskStarted']);

      const exit = await service.stop('SIGTERM', 15_000);
      expect(exit.code).toBe(0);
    });
  });
});
