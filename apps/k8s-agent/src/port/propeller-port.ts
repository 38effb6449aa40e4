import type { Owner, Resources as DomainResources } from '@propeller/events';
import type { PropletHealth, TaskStatus } from '../names';

/**
 * How the operator talks to Propeller (registry, scheduler, liveness KV). The reconcile logic never
 * calls it: it returns actions, and the adapter carries them out through this port.
 *
 * Implementations: `NatsPropellerPort` (src/adapter/nats-propeller.ts: commands
 * `<p>.commands.proplet.*` / `task.*`, a view folded from proplet and task events, the
 * `<p>_liveness` KV), and `FakePropeller` (in-memory, src/testing) for the adapter tests.
 */
export interface PropellerPort {
  /** Registers or re-registers a proplet; idempotent (same registration twice changes nothing). */
  registerProplet(registration: PropletRegistration): Promise<void>;
  /** Deregisters a proplet at once (its tasks move without waiting for thresholds); idempotent. */
  deregisterProplet(propletId: string, reason: string): Promise<void>;
  /** Creates a task; idempotent by `task.id` (a second call with the same id creates nothing). */
  createTask(task: TaskDefinition): Promise<void>;
  /** Starts a created task; idempotent. */
  startTask(taskId: string): Promise<void>;
  /** Stops a task that is not terminal; idempotent. */
  stopTask(taskId: string, reason: string): Promise<void>;
  /** The registry's view of a proplet, or undefined when it never existed. */
  getProplet(propletId: string): Promise<PropletState | undefined>;
  /** The scheduler's view of a task, or undefined when it does not exist. */
  getTask(taskId: string): Promise<TaskState | undefined>;
  /** Calls `listener` after any proplet or task changes; returns the unsubscribe function. */
  subscribe(listener: (change: PropellerChange) => void): () => void;
  /** Writes pod readiness into the liveness KV for the health monitor (liveness is not an event). */
  writeLiveness(propletId: string, liveness: Liveness): Promise<void>;
}

/** A change the port reports; the operator maps it back to the CR that owns it. */
export type PropellerChange = { kind: 'proplet'; id: string; owner?: OwnerRef } | { kind: 'task'; id: string; owner?: OwnerRef };

/** The Kubernetes object behind a proplet or task (`Owner` of @propeller/events). */
export type OwnerRef = Owner;

/** Capacity or requirement in Kubernetes quantities, kept as strings (`Resources` of @propeller/events). */
export type Resources = DomainResources;

export interface PropletRegistration {
  id: string;
  type: 'k8s' | 'external';
  deviceType?: string;
  capabilities: string[];
  labels: Record<string, string>;
  capacity: Resources;
  endpoint?: string;
  connection: { domainId: string; channelId: string; broker: string };
  /** The Proplet CR; for a k8s proplet the pod is named by `id`. */
  owner: OwnerRef;
}

export interface PropletState {
  id: string;
  type: 'k8s' | 'external';
  health: PropletHealth;
  /** Last heartbeat the health monitor saw (ISO-8601). */
  lastSeenAt?: string;
  /** Unfinished tasks placed on it. */
  taskCount: number;
  /** Capacity left after the tasks placed on it. */
  available?: Resources;
}

export interface TaskDefinition {
  id: string;
  name: string;
  functionName: string;
  imageUrl?: string;
  /** Base64 Wasm module. */
  file?: string;
  inputs: Array<string | number>;
  cliArgs: string[];
  env: Record<string, string>;
  daemon: boolean;
  preferredPropletType: 'k8s' | 'external' | 'any';
  propletSelector: { propletId?: string; matchDeviceTypes?: string[]; matchCapabilities?: string[]; matchLabels?: Record<string, string> };
  resourceRequirements: Resources;
  owner: OwnerRef;
}

export interface TaskState {
  id: string;
  status: TaskStatus;
  assignedProplet?: string;
  attempts: number;
  startedAt?: string;
  completedAt?: string;
  results?: unknown;
  error?: string;
  /** The scheduler's explanation while no proplet can take the task. */
  unschedulableReason?: string;
}

/**
 * Pod readiness for the health monitor: the NATS port writes it to `<p>_liveness` as a
 * `PropletLiveness` with `source: podReadiness` (`alive` = ready, `offline` = not ready).
 */
export interface Liveness {
  status: 'alive' | 'offline';
  /** ISO-8601. */
  at: string;
}
