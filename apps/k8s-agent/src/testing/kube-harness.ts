import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, type PropletResource, type TaskResource } from '../crd/types';
import { FAKE_ADMIN_TOKEN, FAKE_OPERATOR_TOKEN, FakeApiServer } from './fake-apiserver';

/**
 * Where the adapter tests run: the in-repo FAKE API server by default, or the real cluster of
 * `KUBECONFIG` when it is set (with deploy/crds.yaml applied), so the same cases prove the adapter
 * against a real API server as soon as someone has one.
 */
export interface KubeTarget {
  /** Shown in the `describe`: `fake API server` or `KUBECONFIG cluster`. */
  readonly name: string;
  /** True for the fake: tests may play the kubelet and controllers, compact history, inject failures. */
  readonly fake: FakeApiServer | undefined;
  /** Credentials of the operator (the ServiceAccount of deploy/rbac.yaml on the fake). */
  readonly operator: k8s.KubeConfig;
  /** Credentials of the test harness (creates CRs, plays controllers). */
  readonly admin: k8s.KubeConfig;
  /** Namespace of the leader Lease (`propeller-system` on the fake, where deploy/rbac.yaml grants leases). */
  readonly leaseNamespace: string;
  /** A fresh namespace for one test's objects. */
  newNamespace(): Promise<string>;
  close(): Promise<void>;
}

function kubeconfigFor(server: string, token: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'user', namespace: 'default' }],
    currentContext: 'fake',
  });
  return kc;
}

/** The target chosen by the environment. */
export async function kubeTarget(): Promise<KubeTarget> {
  if (process.env['KUBECONFIG']) {
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created: string[] = [];
    return {
      name: 'KUBECONFIG cluster',
      fake: undefined,
      operator: kc,
      admin: kc,
      leaseNamespace: 'default',
      async newNamespace() {
        const name = `propeller-test-${randomBytes(4).toString('hex')}`;
        await core.createNamespace({ body: { metadata: { name } } });
        created.push(name);
        return name;
      },
      async close() {
        for (const name of created) await core.deleteNamespace({ name }).catch(() => undefined);
      },
    };
  }
  const fake = await FakeApiServer.start();
  return {
    name: 'fake API server',
    fake,
    operator: kubeconfigFor(fake.url, FAKE_OPERATOR_TOKEN),
    admin: kubeconfigFor(fake.url, FAKE_ADMIN_TOKEN),
    leaseNamespace: 'propeller-system',
    async newNamespace() {
      // The fake has no Namespace objects: any namespace name is accepted.
      return `t-${randomBytes(4).toString('hex')}`;
    },
    close: () => fake.stop(),
  };
}

/** Harness-side calls (as the admin), written with client-node so they also work on a real cluster. */
export class Harness {
  readonly custom: k8s.CustomObjectsApi;
  readonly apps: k8s.AppsV1Api;
  readonly core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  create(plural: 'proplets' | 'tasks', namespace: string, body: object): Promise<{ metadata: { uid: string; resourceVersion: string } }> {
    return this.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, body });
  }

  get(plural: 'proplets', namespace: string, name: string): Promise<PropletResource>;
  get(plural: 'tasks', namespace: string, name: string): Promise<TaskResource>;
  get(plural: 'proplets' | 'tasks', namespace: string, name: string): Promise<PropletResource | TaskResource> {
    return this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name });
  }

  /** The object, or undefined after a 404. */
  async find(plural: 'proplets' | 'tasks', namespace: string, name: string): Promise<PropletResource | TaskResource | undefined> {
    try {
      return await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw e;
    }
  }

  patch(plural: 'proplets' | 'tasks', namespace: string, name: string, body: object): Promise<unknown> {
    return this.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name, body }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  }

  delete(plural: 'proplets' | 'tasks', namespace: string, name: string): Promise<unknown> {
    return this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, name });
  }

  async deployment(namespace: string, name: string): Promise<k8s.V1Deployment | undefined> {
    try {
      return await this.apps.readNamespacedDeployment({ namespace, name });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw e;
    }
  }

  /** Events on one object, oldest first. */
  async eventsOf(namespace: string, name: string): Promise<Array<{ reason: string; type: string; message: string }>> {
    const list = await this.core.listNamespacedEvent({ namespace });
    return list.items
      .filter((e) => e.involvedObject.name === name)
      .map((e) => ({ reason: e.reason ?? '', type: e.type ?? '', message: e.message ?? '' }));
  }
}

/** Waits for an async condition, polling every 25 ms, up to `ms` (default 10 s); returns its last value. */
export async function eventually<T>(probe: () => Promise<T> | T, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 25));
    last = await probe();
  }
  return last;
}
