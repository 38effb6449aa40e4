import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../crd/types';
import type { CrKind } from '../reconcile/actions';
import type { Deployment, Pod } from '../reconcile/k8s-objects';
import { declared, type DeclaredCall } from './api-calls';

/** Plural resource name of each custom resource kind. */
export const PLURAL: Record<CrKind, 'proplets' | 'tasks'> = { Proplet: 'proplets', Task: 'tasks' };

/** A Kubernetes object as the API returns it (plain JSON). */
export type KubeObject = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };

/** The HTTP status of a failed Kubernetes call (client-node `ApiException.code`, watch errors' `statusCode`), or undefined. */
export function httpStatusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as { code?: unknown; statusCode?: unknown };
  if (typeof x.code === 'number') return x.code;
  if (typeof x.statusCode === 'number') return x.statusCode;
  return undefined;
}

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

/**
 * The only module that calls the Kubernetes API. Each method names the declared call it makes
 * (`ADAPTER_CALLS`), so deploy/rbac.yaml and this file cannot drift apart unnoticed.
 */
export class KubeApi {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly apps: k8s.AppsV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly coordination: k8s.CoordinationV1Api;

  /** `namespace` limits Proplets, Tasks, Deployments and Pods to one namespace; undefined = all namespaces. */
  constructor(
    readonly kc: k8s.KubeConfig,
    readonly namespace: string | undefined,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  }

  private uses(_call: DeclaredCall): void {
    // Documentation at the call site; `declared()` already threw at load time for an undeclared call.
  }

  /** Watch path of a custom resource, namespaced when the operator is. */
  crPath(kind: CrKind): string {
    return this.namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${this.namespace}/${PLURAL[kind]}` : `/apis/${GROUP}/${VERSION}/${PLURAL[kind]}`;
  }

  /** Watch path of Deployments. */
  get deploymentPath(): string {
    return this.namespace ? `/apis/apps/v1/namespaces/${this.namespace}/deployments` : '/apis/apps/v1/deployments';
  }

  /** Watch path of Pods. */
  get podPath(): string {
    return this.namespace ? `/api/v1/namespaces/${this.namespace}/pods` : '/api/v1/pods';
  }

  async listCrs(kind: CrKind): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> {
    this.uses(CALLS.list[kind]);
    const base = { group: GROUP, version: VERSION, plural: PLURAL[kind] };
    return this.namespace ? this.custom.listNamespacedCustomObject({ ...base, namespace: this.namespace }) : this.custom.listClusterCustomObject(base);
  }

  async getCr(kind: CrKind, namespace: string, name: string): Promise<KubeObject> {
    this.uses(CALLS.get[kind]);
    return this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[kind], namespace, name });
  }

  /** Merge patch of the main resource (finalizers); include `metadata.resourceVersion` to get a 409 on a stale read. */
  async patchCr(kind: CrKind, namespace: string, name: string, patch: object): Promise<KubeObject> {
    this.uses(CALLS.patch[kind]);
    return this.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[kind], namespace, name, body: patch }, merge);
  }

  /** Replaces `status` through the status subresource (JSON patch `add /status`, which also removes fields that went away). */
  async replaceCrStatus(kind: CrKind, namespace: string, name: string, status: object): Promise<KubeObject> {
    this.uses(CALLS.patchStatus[kind]);
    return this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL[kind], namespace, name, body: [{ op: 'add', path: '/status', value: status }] },
      jsonPatch,
    );
  }

  async listDeployments(labelSelector: string): Promise<k8s.KubernetesListObject<k8s.V1Deployment>> {
    this.uses(CALLS.listDeployments);
    return this.namespace ? this.apps.listNamespacedDeployment({ namespace: this.namespace, labelSelector }) : this.apps.listDeploymentForAllNamespaces({ labelSelector });
  }

  async getDeployment(namespace: string, name: string): Promise<Deployment> {
    this.uses(CALLS.getDeployment);
    return (await this.apps.readNamespacedDeployment({ namespace, name })) as unknown as Deployment;
  }

  async createDeployment(d: Deployment): Promise<Deployment> {
    this.uses(CALLS.createDeployment);
    return (await this.apps.createNamespacedDeployment({ namespace: d.metadata.namespace ?? 'default', body: d as unknown as k8s.V1Deployment })) as unknown as Deployment;
  }

  async patchDeployment(namespace: string, name: string, patch: object): Promise<Deployment> {
    this.uses(CALLS.patchDeployment);
    return (await this.apps.patchNamespacedDeployment({ namespace, name, body: patch }, merge)) as unknown as Deployment;
  }

  async deleteDeployment(namespace: string, name: string): Promise<void> {
    this.uses(CALLS.deleteDeployment);
    await this.apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: 'Background' });
  }

  async listPods(labelSelector: string): Promise<k8s.KubernetesListObject<k8s.V1Pod>> {
    this.uses(CALLS.listPods);
    return this.namespace ? this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }) : this.core.listPodForAllNamespaces({ labelSelector });
  }

  async createEvent(namespace: string, event: k8s.CoreV1Event): Promise<void> {
    this.uses(CALLS.createEvent);
    await this.core.createNamespacedEvent({ namespace, body: event });
  }

  async getLease(namespace: string, name: string): Promise<k8s.V1Lease> {
    this.uses(CALLS.getLease);
    return this.coordination.readNamespacedLease({ namespace, name });
  }

  async createLease(namespace: string, lease: k8s.V1Lease): Promise<k8s.V1Lease> {
    this.uses(CALLS.createLease);
    return this.coordination.createNamespacedLease({ namespace, body: lease });
  }

  async replaceLease(namespace: string, name: string, lease: k8s.V1Lease): Promise<k8s.V1Lease> {
    this.uses(CALLS.updateLease);
    return this.coordination.replaceNamespacedLease({ namespace, name, body: lease });
  }

  /** An informer (list + watch, relist after 410 Gone) on one of the operator's resources. */
  informer<T extends k8s.KubernetesObject>(path: string, list: () => Promise<k8s.KubernetesListObject<T>>, labelSelector?: string): k8s.Informer<T> & k8s.ObjectCache<T> {
    return k8s.makeInformer<T>(this.kc, path, list, labelSelector);
  }
}

// Resolved once at load time: an undeclared call fails the process (and every test) at start.
const CALLS = {
  list: { Proplet: declared('list', GROUP, 'proplets'), Task: declared('list', GROUP, 'tasks') },
  get: { Proplet: declared('get', GROUP, 'proplets'), Task: declared('get', GROUP, 'tasks') },
  patch: { Proplet: declared('patch', GROUP, 'proplets'), Task: declared('patch', GROUP, 'tasks') },
  patchStatus: { Proplet: declared('patch', GROUP, 'proplets/status'), Task: declared('patch', GROUP, 'tasks/status') },
  listDeployments: declared('list', 'apps', 'deployments'),
  getDeployment: declared('get', 'apps', 'deployments'),
  createDeployment: declared('create', 'apps', 'deployments'),
  patchDeployment: declared('patch', 'apps', 'deployments'),
  deleteDeployment: declared('delete', 'apps', 'deployments'),
  listPods: declared('list', '', 'pods'),
  createEvent: declared('create', '', 'events'),
  getLease: declared('get', 'coordination.k8s.io', 'leases'),
  createLease: declared('create', 'coordination.k8s.io', 'leases'),
  updateLease: declared('update', 'coordination.k8s.io', 'leases'),
} as const;

/** Pods are typed loosely by the reconcile logic; the client's model is a superset. */
export const asPod = (p: k8s.V1Pod): Pod => p as unknown as Pod;
/** Deployments are typed loosely by the reconcile logic; the client's model is a superset. */
export const asDeployment = (d: k8s.V1Deployment): Deployment => d as unknown as Deployment;
