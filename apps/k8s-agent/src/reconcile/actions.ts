import type { PropletCrStatus, TaskCrStatus } from '../crd/types';
import type { PropletRegistration, TaskDefinition, Liveness } from '../port/propeller-port';
import type { Deployment, ObjectRef } from './k8s-objects';

/** The kinds of custom resource the operator reconciles. */
export type CrKind = 'Proplet' | 'Task';

/** A reference to one custom resource. */
export interface CrRef extends ObjectRef {
  kind: CrKind;
}

/**
 * What a plan asks the adapter to do, in order. Every action is idempotent, so a reconcile that
 * fails half-way is simply planned and applied again.
 */
export type Action =
  | { type: 'addFinalizer'; target: CrRef }
  | { type: 'removeFinalizer'; target: CrRef }
  | { type: 'createDeployment'; deployment: Deployment }
  | { type: 'updateDeployment'; deployment: Deployment }
  | { type: 'deleteDeployment'; target: ObjectRef }
  | { type: 'registerProplet'; registration: PropletRegistration }
  | { type: 'deregisterProplet'; propletId: string; reason: string }
  | { type: 'writeLiveness'; propletId: string; liveness: Liveness }
  | { type: 'createTask'; task: TaskDefinition }
  | { type: 'startTask'; taskId: string }
  | { type: 'stopTask'; taskId: string; reason: string }
  | { type: 'patchStatus'; target: CrRef & { kind: 'Proplet' }; status: PropletCrStatus }
  | { type: 'patchStatus'; target: CrRef & { kind: 'Task' }; status: TaskCrStatus }
  | { type: 'emitEvent'; target: CrRef; eventType: 'Normal' | 'Warning'; reason: string; message: string };

/** The `type` strings of `Action`. */
export type ActionType = Action['type'];
