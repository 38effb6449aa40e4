import { ConflictError } from '@propeller/events';
import { FINALIZER } from '../crd/types';
import type { PropellerPort } from '../port/propeller-port';
import type { Action, CrKind, CrRef } from '../reconcile/actions';
import type { Deployment } from '../reconcile/k8s-objects';
import { httpStatusOf, type KubeApi, type KubeObject } from './kube';

/** How many times a write that meets a 409 is re-read and retried before the key is requeued. */
export const CONFLICT_RETRIES = 3;

/** The Kubernetes object a plan was made for, as the applier needs it. */
export interface PlannedObject {
  apiVersion: string;
  kind: CrKind;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; finalizers?: string[] };
}

/** Where the applier sends Kubernetes Events (best effort: a failed event never fails a reconcile). */
export interface EventSink {
  emit(target: PlannedObject, eventType: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/**
 * What the applier wrote, for the caller to use until its informer caches catch up: the operator
 * is the only writer of CR status and of its Deployments, so its own last write is the freshest
 * view of them, and planning from it keeps a lagging cache from repeating a write or an Event.
 */
export interface WriteObserver {
  statusWritten(uid: string, status: object): void;
  deploymentWritten(d: Deployment): void;
  deploymentDeleted(namespace: string, name: string): void;
}

export interface ApplyDeps {
  kube: KubeApi;
  port: PropellerPort;
  events: EventSink;
  written?: WriteObserver;
}

/**
 * Carries out a plan in order. Every step is idempotent: creating what exists patches it, deleting
 * what is gone succeeds, a 409 on a stale resourceVersion re-reads and retries. An error stops the
 * plan and is thrown, so the queue retries the whole reconcile with backoff.
 */
export async function applyActions(actions: readonly Action[], obj: PlannedObject, deps: ApplyDeps): Promise<void> {
  // The finalizer patches move the resourceVersion; later steps of the same plan use the new one.
  let current: PlannedObject = obj;
  for (const a of actions) {
    switch (a.type) {
      case 'addFinalizer':
      case 'removeFinalizer':
        current = await setFinalizer(deps.kube, a.target, current, a.type === 'addFinalizer');
        break;
      case 'createDeployment':
        deps.written?.deploymentWritten(await createOrPatchDeployment(deps.kube, a.deployment));
        break;
      case 'updateDeployment':
        deps.written?.deploymentWritten(await patchDeployment(deps.kube, a.deployment));
        break;
      case 'deleteDeployment':
        await ignoreNotFound(() => deps.kube.deleteDeployment(a.target.namespace, a.target.name));
        deps.written?.deploymentDeleted(a.target.namespace, a.target.name);
        break;
      case 'registerProplet':
        await deps.port.registerProplet(a.registration);
        break;
      case 'deregisterProplet':
        await deps.port.deregisterProplet(a.propletId, a.reason);
        break;
      case 'writeLiveness':
        await deps.port.writeLiveness(a.propletId, a.liveness);
        break;
      case 'createTask':
        await deps.port.createTask(a.task);
        break;
      case 'startTask':
        await deps.port.startTask(a.taskId);
        break;
      case 'stopTask':
        await deps.port.stopTask(a.taskId, a.reason);
        break;
      case 'patchStatus':
        // Status is a pure function of what was observed, so the last writer is right: no resourceVersion.
        await ignoreNotFound(() => deps.kube.replaceCrStatus(a.target.kind, a.target.namespace, a.target.name, a.status));
        if (current.metadata.uid) deps.written?.statusWritten(current.metadata.uid, a.status);
        break;
      case 'emitEvent':
        await deps.events.emit(current, a.eventType, a.reason, a.message);
        break;
      default: {
        const never: never = a;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }
}

async function setFinalizer(kube: KubeApi, target: CrRef, cached: PlannedObject, add: boolean): Promise<PlannedObject> {
  let seen: PlannedObject = cached;
  for (let attempt = 0; attempt <= CONFLICT_RETRIES; attempt++) {
    const finalizers = seen.metadata.finalizers ?? [];
    const next = add ? [...finalizers.filter((f) => f !== FINALIZER), FINALIZER] : finalizers.filter((f) => f !== FINALIZER);
    if (add === finalizers.includes(FINALIZER)) return seen;
    try {
      const patched = await kube.patchCr(target.kind, target.namespace, target.name, { metadata: { finalizers: next, resourceVersion: seen.metadata.resourceVersion } });
      return { ...seen, metadata: { ...seen.metadata, ...(patched.metadata as object), finalizers: next } } as PlannedObject;
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404 && !add) return seen;
      if (status !== 409) throw e;
      seen = toPlanned(await kube.getCr(target.kind, target.namespace, target.name), target.kind);
    }
  }
  throw new ConflictError(`${target.kind} ${target.namespace}/${target.name}: finalizer still conflicting after ${CONFLICT_RETRIES} re-reads`);
}

function toPlanned(o: KubeObject, kind: CrKind): PlannedObject {
  const m = o.metadata ?? {};
  return {
    apiVersion: o.apiVersion ?? '',
    kind,
    metadata: {
      name: String(m.name ?? ''),
      ...(m.namespace ? { namespace: m.namespace } : {}),
      ...(m.uid ? { uid: m.uid } : {}),
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      finalizers: (m['finalizers'] as string[] | undefined) ?? [],
    },
  };
}

async function createOrPatchDeployment(kube: KubeApi, d: Deployment): Promise<Deployment> {
  try {
    return await kube.createDeployment(d);
  } catch (e) {
    // Someone (another replica before a failover, or our own earlier try) created it: make it ours.
    if (httpStatusOf(e) !== 409) throw e;
    return patchDeployment(kube, d);
  }
}

async function patchDeployment(kube: KubeApi, d: Deployment): Promise<Deployment> {
  const ns = d.metadata.namespace ?? 'default';
  let resourceVersion: string | undefined;
  for (let attempt = 0; attempt <= CONFLICT_RETRIES; attempt++) {
    try {
      const metadata = { labels: d.metadata.labels, annotations: d.metadata.annotations, ownerReferences: d.metadata.ownerReferences, ...(resourceVersion ? { resourceVersion } : {}) };
      return await kube.patchDeployment(ns, d.metadata.name, { metadata, spec: d.spec });
    } catch (e) {
      if (httpStatusOf(e) !== 409) throw e;
      resourceVersion = (await kube.getDeployment(ns, d.metadata.name)).metadata.resourceVersion;
    }
  }
  throw new ConflictError(`Deployment ${ns}/${d.metadata.name} still conflicting after ${CONFLICT_RETRIES} re-reads`);
}

async function ignoreNotFound(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (httpStatusOf(e) !== 404) throw e;
  }
}
