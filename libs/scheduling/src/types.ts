import type { Quantity } from './quantity';

/** The two kinds of proplet. */
export type PropletType = 'k8s' | 'external';

/** Proplet health as the health monitor judges it; only `healthy` is schedulable. */
export type PropletHealth = 'unknown' | 'healthy' | 'offline' | 'failed' | 'deregistered';

/** How a proplet wants its start messages shaped (PROTOCOL.md): `wamr` are ESP32-class devices. */
export type Dialect = 'wasmtime' | 'wamr';

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
  /** `domain/channel` — the MQTT channel the proplet registered on. */
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

/** `propletSelector` of a task: every present field is a hard rule. */
export interface PropletSelector {
  propletId?: string;
  matchTypes?: readonly PropletType[];
  matchDeviceTypes?: readonly string[];
  matchCapabilities?: readonly string[];
  matchLabels?: Readonly<Record<string, string>>;
}

/** The task as the scheduler needs it (a projection of the Task aggregate). */
export interface SchedulingTask {
  id: string;
  /** The export to call; also read by `hybrid` classification. */
  name: string;
  imageUrl?: string;
  labels?: Readonly<Record<string, string>>;
  preferredPropletType?: PropletType;
  propletSelector?: PropletSelector;
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
