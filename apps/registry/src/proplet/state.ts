import type {
  Channel,
  Dialect,
  Labels,
  Owner,
  PropletHealth,
  PropletMetadata,
  PropletType,
  Resources,
} from '@propeller/events';

/** What the device (or its pod, or its CR) reported; replaced by re-registrations and updates. */
export interface ReportedProplet {
  deviceType: string;
  capabilities: string[];
  labels: Labels;
  capacity: Resources;
  maxTasks: number | undefined;
  dialect: Dialect;
  channel: Channel;
  metadata: PropletMetadata;
  owner: Owner | undefined;
  /** Version of the `propeller` extension the proplet sends; `undefined` for upstream proplets. */
  extensionVersion: number | undefined;
}

/** What an operator set (REST, CLI, CR); wins over `reported` and survives re-registration. */
export interface PropletOverridesState {
  labels: Labels | undefined;
  capacity: Resources | undefined;
  deviceType: string | undefined;
  capabilities: string[] | undefined;
}

/** A registered proplet. */
export interface ActiveProplet {
  status: 'active';
  type: PropletType;
  reported: ReportedProplet;
  overrides: PropletOverridesState;
  cordoned: boolean;
  health: Exclude<PropletHealth, 'deregistered'>;
  healthChangedAt: string | undefined;
  registeredAt: string;
}

/**
 * State of the Proplet aggregate, a discriminated union on `status`:
 * `absent` (never registered), `active`, `deregistered` (a tombstone: heartbeats do not revive it,
 * a new registration from the device does).
 */
export type PropletState =
  | { status: 'absent' }
  | ActiveProplet
  | { status: 'deregistered'; type: PropletType; deregisteredAt: string; reason: string };

export const NO_OVERRIDES: PropletOverridesState = {
  labels: undefined,
  capacity: undefined,
  deviceType: undefined,
  capabilities: undefined,
};

/** The values placement and the API see: operator overrides over device reports. */
export interface EffectiveProplet {
  type: PropletType;
  deviceType: string;
  capabilities: string[];
  labels: Labels;
  capacity: Resources;
  maxTasks: number | undefined;
  dialect: Dialect;
  channel: Channel;
  metadata: PropletMetadata;
  owner: Owner | undefined;
  extensionVersion: number | undefined;
  cordoned: boolean;
  health: Exclude<PropletHealth, 'deregistered'>;
}

/** Operator overrides win field by field; override labels are merged over the device's labels. */
export function effectiveProplet(p: ActiveProplet): EffectiveProplet {
  const { reported, overrides } = p;
  return {
    type: p.type,
    deviceType: overrides.deviceType ?? reported.deviceType,
    capabilities: overrides.capabilities ?? reported.capabilities,
    labels: overrides.labels === undefined ? reported.labels : { ...reported.labels, ...overrides.labels },
    capacity: overrides.capacity ?? reported.capacity,
    maxTasks: reported.maxTasks,
    dialect: reported.dialect,
    channel: reported.channel,
    metadata: reported.metadata,
    owner: reported.owner,
    extensionVersion: reported.extensionVersion,
    cordoned: p.cordoned,
    health: p.health,
  };
}
