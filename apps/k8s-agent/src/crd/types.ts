/**
 * TypeScript shapes of the Proplet and Task custom resources (deploy/crds.yaml).
 * Kept free of `@kubernetes/client-node` so the reconcile logic stays pure (STYLE.md rule 15).
 */

/** API group of the Propeller CRDs. */
export const GROUP = 'propeller.absmach.fr';
/** Served and stored version of the Propeller CRDs. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of every Propeller custom resource. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Finalizer the operator puts on Proplets and Tasks so deletion waits for cleanup in Propeller. */
export const FINALIZER = `${GROUP}/cleanup`;

/** A Kubernetes quantity as it appears in YAML: `"500m"`, `2`, `"256Mi"`. */
export type Quantity = string | number;

export interface ResourceCapacity {
  cpu?: Quantity;
  memory?: Quantity;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The part of `metadata` the operator reads and writes. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

/** `status` is a string of the Kubernetes condition convention. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export type PropletType = 'k8s' | 'external';

export interface PropletSpec {
  type: PropletType;
  k8s?: {
    image?: string;
    /** Default 1. */
    replicas?: number;
    resources?: { requests?: ResourceCapacity; limits?: ResourceCapacity };
  };
  external?: {
    /** Default `metadata.name`. */
    propletId?: string;
    endpoint?: string;
    deviceType?: string;
    capabilities?: string[];
  };
  connectionConfig?: { domainId?: string; channelId?: string; broker?: string };
  resources?: ResourceCapacity;
}

/** CRD phase of a Proplet (ARCHITECTURE.md "Names on each layer"). */
export type PropletPhase = 'Initializing' | 'Running' | 'Offline' | 'Failed';

export interface PropletCrStatus {
  phase?: PropletPhase;
  observedGeneration?: number;
  lastSeen?: string;
  taskCount?: number;
  availableResources?: ResourceCapacity;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  replicaSummary?: string;
  propletIds?: string[];
  conditions?: Condition[];
}

export interface PropletResource {
  apiVersion: typeof API_VERSION;
  kind: 'Proplet';
  metadata: ObjectMeta;
  spec: PropletSpec;
  status?: PropletCrStatus;
}

export type PreferredPropletType = 'k8s' | 'external' | 'any';

export interface TaskSpec {
  name: string;
  /** Default `spec.name`. */
  functionName?: string;
  imageUrl?: string;
  /** Base64 Wasm module. */
  file?: string;
  cliArgs?: string[];
  inputs?: Array<string | number>;
  env?: Record<string, string>;
  /** Default false. */
  daemon?: boolean;
  /** Default `any`. */
  preferredPropletType?: PreferredPropletType;
  propletSelector?: {
    propletId?: string;
    matchDeviceTypes?: string[];
    matchCapabilities?: string[];
    matchLabels?: Record<string, string>;
  };
  resourceRequirements?: ResourceCapacity;
}

/** CRD phase of a Task (ARCHITECTURE.md "Names on each layer"). */
export type TaskPhase = 'Pending' | 'Scheduled' | 'Running' | 'Completed' | 'Failed' | 'Stopped';

export interface TaskCrStatus {
  phase?: TaskPhase;
  taskId?: string;
  observedGeneration?: number;
  assignedProplet?: string;
  attempts?: number;
  startTime?: string;
  completionTime?: string;
  results?: unknown;
  error?: string;
  unschedulableReason?: string;
  conditions?: Condition[];
}

export interface TaskResource {
  apiVersion: typeof API_VERSION;
  kind: 'Task';
  metadata: ObjectMeta;
  spec: TaskSpec;
  status?: TaskCrStatus;
}
