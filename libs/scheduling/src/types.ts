import type { Dialect, Labels, PreferredPropletType, PropletHealth, PropletSelector, PropletType } from '@propeller/events';
import type { Quantity } from './quantity';

// Proplet types, health, dialects, selectors and labels are the event contract's
// (`@propeller/events`), used here as they are and not re-exported, so that no consumer meets two
// declarations of one name.

/** The scheduling policies (`SCHEDULER_TYPE`); `hybrid` is the default. */
export type PolicyName = 'roundrobin' | 'resource-aware' | 'hybrid';

/** Parsed capacity: only what the proplet reports; a missing field does not constrain it. */
export interface ParsedCapacity {
  cpuMillis?: number;
  memoryBytes?: number;
}

/**
 * A proplet as the scheduler sees it, normalised once (capacity parsed, capabilities a set) by
 * `toCandidate`, so that a placement over 10,000 of them does no parsing.
 */
export interface Candidate {
  readonly id: string;
  readonly type: PropletType;
  readonly deviceType: string;
  readonly capabilities: ReadonlySet<string>;
  readonly labels: Readonly<Record<string, string>>;
  readonly capacity: Readonly<ParsedCapacity>;
  readonly health: PropletHealth;
  readonly cordoned: boolean;
  readonly dialect: Dialect;
  /** `domain/channel` (see `channelKey`) — the MQTT channel the proplet registered on. */
  readonly channel: string;
  /** When the proplet was last heard from (epoch ms); absent if never. */
  readonly lastHeardAt?: number;
  /** Most tasks it runs at once; absent means no limit. */
  readonly maxTasks?: number;
}

/** What the registry read model or events say about a proplet, before `toCandidate` normalises it. */
export interface CandidateInput {
  id: string;
  type: PropletType;
  deviceType?: string;
  capabilities?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  /** Kubernetes quantities (`"2"`, `"500m"`, `"512Mi"`) or plain numbers in cores / bytes. */
  capacity?: { cpu?: Quantity; memory?: Quantity };
  health: PropletHealth;
  cordoned?: boolean;
  /** Default `wasmtime`. */
  dialect?: Dialect;
  /** `domain/channel`; default `''` (no channel known). */
  channel?: string;
  lastHeardAt?: number;
  maxTasks?: number;
}

/**
 * The task as the scheduler needs it: a task id plus the placement fields of the event contract's
 * `TaskSpec` (which is assignable to it), and the WAMR start size the caller computed.
 */
export interface SchedulingTask {
  id: string;
  /** The task's name; read by `hybrid` classification. */
  name: string;
  imageUrl?: string | null;
  labels?: Readonly<Labels>;
  /** `any` (the contract's default) or absent: no preference. */
  preferredPropletType?: PreferredPropletType;
  propletSelector?: Readonly<PropletSelector>;
  resourceRequirements?: { cpu?: Quantity; memory?: Quantity };
  /**
   * Size in bytes of the start message shaped for a WAMR device (computed by `libs/mqtt-protocol`).
   * With neither this nor `fitsWamr`, WAMR devices are not considered.
   */
  wamrStartBytes?: number;
  /** Precomputed answer to "does the WAMR start fit in 1,023 bytes"; wins over `wamrStartBytes`. */
  fitsWamr?: boolean;
}

/** Resources a task asks for, parsed (0 when it asks for none). */
export interface ParsedRequirements {
  cpuMillis: number;
  memoryBytes: number;
}

/** The channel key of a candidate: `domainId/channelId` (the layout does not matter: a device hears its channel in both). */
export function channelKey(channel: { domainId: string; channelId: string }): string {
  return `${channel.domainId}/${channel.channelId}`;
}
