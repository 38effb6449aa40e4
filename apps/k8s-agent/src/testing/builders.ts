import { API_VERSION, FINALIZER, type PropletCrStatus, type PropletResource, type PropletSpec, type TaskCrStatus, type TaskResource, type TaskSpec } from '../crd/types';
import type { PropletState, TaskState } from '../port/propeller-port';
import type { Action } from '../reconcile/actions';
import { DEFAULT_RECONCILE_CONFIG, type ReconcileConfig } from '../reconcile/config';
import type { Deployment, Pod } from '../reconcile/k8s-objects';
import { PROPLET_LABEL } from '../reconcile/deployment';

/** Small fluent builders for reconcile tests (STYLE.md rule 18). */

/** A fixed clock for plans. */
export const NOW = new Date('2026-11-27T14:00:00.000Z');

/** The config every plan test uses unless it says otherwise. */
export const TEST_CONFIG: ReconcileConfig = { ...DEFAULT_RECONCILE_CONFIG, mqttBroker: 'mqtt://mosquitto.propeller-system.svc:1883' };

export class PropletBuilder {
  private cr: PropletResource;
  constructor(name: string, spec: PropletSpec) {
    this.cr = { apiVersion: API_VERSION, kind: 'Proplet', metadata: { name, namespace: 'default', uid: `uid-${name}`, generation: 1, finalizers: [FINALIZER] }, spec };
  }
  withoutFinalizer(): this {
    this.cr.metadata.finalizers = [];
    return this;
  }
  deleting(): this {
    this.cr.metadata.deletionTimestamp = NOW.toISOString();
    return this;
  }
  generation(n: number): this {
    this.cr.metadata.generation = n;
    return this;
  }
  labels(labels: Record<string, string>): this {
    this.cr.metadata.labels = labels;
    return this;
  }
  status(status: PropletResource['status']): this {
    this.cr.status = status;
    return this;
  }
  build(): PropletResource {
    return structuredClone(this.cr);
  }
}

/** A `type: k8s` Proplet of `image` with `replicas`. */
export const aK8sProplet = (name = 'k8s-worker-pool', replicas = 3, image = 'ghcr.io/absmach/propeller/proplet:v1'): PropletBuilder =>
  new PropletBuilder(name, { type: 'k8s', k8s: { image, replicas }, resources: { cpu: '2', memory: '4Gi' } });

/** A `type: external` Proplet of an ESP32. */
export const anExternalProplet = (name = 'esp32-sensor-node', external: PropletSpec['external'] = { deviceType: 'esp32', capabilities: ['sensor'] }): PropletBuilder =>
  new PropletBuilder(name, { type: 'external', external, resources: { cpu: '240m', memory: '320Ki' } });

export class TaskBuilder {
  private cr: TaskResource;
  constructor(name: string, spec: TaskSpec) {
    this.cr = { apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default', uid: `uid-${name}`, generation: 1, finalizers: [FINALIZER] }, spec };
  }
  uid(uid: string): this {
    this.cr.metadata.uid = uid;
    return this;
  }
  withoutFinalizer(): this {
    this.cr.metadata.finalizers = [];
    return this;
  }
  deleting(): this {
    this.cr.metadata.deletionTimestamp = NOW.toISOString();
    return this;
  }
  generation(n: number): this {
    this.cr.metadata.generation = n;
    return this;
  }
  status(status: TaskResource['status']): this {
    this.cr.status = status;
    return this;
  }
  build(): TaskResource {
    return structuredClone(this.cr);
  }
}

/** A Task running `add(10, 32)` from an inline module. */
export const aTask = (name = 'add', spec: Partial<TaskSpec> = {}): TaskBuilder =>
  new TaskBuilder(name, { name, file: 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', inputs: [10, 32], ...spec });

/** A pod of a k8s Proplet; `ready` sets its Ready condition. */
export function aPod(propletName: string, suffix: string, opts: { ready?: boolean; phase?: NonNullable<Pod['status']>['phase']; deleting?: boolean } = {}): Pod {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${propletName}-proplet-${suffix}`, namespace: 'default', uid: `pod-${suffix}`, labels: { [PROPLET_LABEL]: propletName } },
    status: { phase: opts.phase ?? 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
  if (opts.deleting) pod.metadata.deletionTimestamp = NOW.toISOString();
  return pod;
}

/** The registry's view of a proplet. */
export const aPropletState = (id: string, health: PropletState['health'], extra: Partial<PropletState> = {}): PropletState => ({
  id,
  type: 'k8s',
  health,
  taskCount: 0,
  ...extra,
});

/** The scheduler's view of a task. */
export const aTaskState = (id: string, status: TaskState['status'], extra: Partial<TaskState> = {}): TaskState => ({ id, status, attempts: 0, ...extra });

/** A Deployment as the API server would return it after `status` is filled. */
export function withDeploymentStatus(d: Deployment, status: Deployment['status']): Deployment {
  return { ...structuredClone(d), status };
}

/** Actions of one type, narrowed. */
export function actionsOf<T extends Action['type']>(actions: readonly Action[], type: T): Array<Extract<Action, { type: T }>> {
  return actions.filter((a): a is Extract<Action, { type: T }> => a.type === type);
}

/** Applies the status and finalizer actions of a plan to a copy of the CR, as the API server would. */
export function applyToCr<R extends PropletResource | TaskResource>(cr: R, actions: readonly Action[]): R {
  const next = structuredClone(cr);
  for (const a of actions) {
    if (a.type === 'patchStatus') next.status = structuredClone(a.status) as never;
    if (a.type === 'addFinalizer') next.metadata.finalizers = [...(next.metadata.finalizers ?? []), FINALIZER];
    if (a.type === 'removeFinalizer') next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  }
  return next;
}

/** The status of the first Proplet `patchStatus` action, or undefined. */
export function propletStatusPatch(actions: readonly Action[]): PropletCrStatus | undefined {
  const a = actions.find((x) => x.type === 'patchStatus' && x.target.kind === 'Proplet');
  return a?.type === 'patchStatus' ? (a.status as PropletCrStatus) : undefined;
}

/** The status of the first Task `patchStatus` action, or undefined. */
export function taskStatusPatch(actions: readonly Action[]): TaskCrStatus | undefined {
  const a = actions.find((x) => x.type === 'patchStatus' && x.target.kind === 'Task');
  return a?.type === 'patchStatus' ? (a.status as TaskCrStatus) : undefined;
}
