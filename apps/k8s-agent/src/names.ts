import { TERMINAL_TASK_STATUSES, type PropletHealth, type TaskStatus } from '@propeller/events';
import type { PropletPhase, TaskPhase } from './crd/types';

/**
 * The one place where domain names (`PropletHealth`, `TaskStatus` of @propeller/events) meet CRD
 * names (ARCHITECTURE.md "Names on each layer"): camelCase domain states on one side, PascalCase
 * CRD phases on the other.
 */
export type { PropletHealth, TaskStatus };

/** Every Proplet phase, in the order of the CRD enum. */
export const PROPLET_PHASES: readonly PropletPhase[] = ['Initializing', 'Running', 'Offline', 'Failed'];
/** Every Task phase, in the order of the CRD enum. */
export const TASK_PHASES: readonly TaskPhase[] = ['Pending', 'Scheduled', 'Running', 'Completed', 'Failed', 'Stopped'];

/** `unknown → Initializing`, `healthy → Running`, `offline → Offline`, `failed → Failed`; a deregistered proplet is `Offline`. */
export function propletPhaseOf(health: PropletHealth): PropletPhase {
  switch (health) {
    case 'unknown':
      return 'Initializing';
    case 'healthy':
      return 'Running';
    case 'offline':
    case 'deregistered':
      return 'Offline';
    case 'failed':
      return 'Failed';
    default: {
      const never: never = health;
      throw new Error(`unknown proplet health ${String(never)}`);
    }
  }
}

/** `created`/`pending → Pending`, the others to their PascalCase name. */
export function taskPhaseOf(status: TaskStatus): TaskPhase {
  switch (status) {
    case 'created':
    case 'pending':
      return 'Pending';
    case 'scheduled':
      return 'Scheduled';
    case 'running':
      return 'Running';
    case 'completed':
      return 'Completed';
    case 'failed':
      return 'Failed';
    case 'stopped':
      return 'Stopped';
    default: {
      const never: never = status;
      throw new Error(`unknown task status ${String(never)}`);
    }
  }
}

/** True for the statuses nothing moves a task out of. */
export const isTerminalTaskStatus = (s: TaskStatus): boolean => (TERMINAL_TASK_STATUSES as readonly TaskStatus[]).includes(s);
