import { isDeepStrictEqual } from 'node:util';
import {
  InvalidError,
  NotFoundError,
  type PropletCommand,
  type PropletEvent,
  type PropletUpdatedData,
  type RegisterProplet,
} from '@propeller/events';
import { type ActiveProplet, NO_OVERRIDES, type PropletState, type ReportedProplet } from './state';

/**
 * The Proplet aggregate as a decider (STYLE.md rule 5). Pure: the clock arrives in `meta.issuedAt`,
 * the fencing token of the health judge is checked by the handler before `decide`.
 * A command whose outcome is already in the state decides no events, so every command is idempotent.
 */
export const propletDecider = {
  initialState: (): PropletState => ({ status: 'absent' }),
  decide,
  evolve,
};

const REPORTED_KEYS = ['deviceType', 'capabilities', 'labels', 'capacity', 'maxTasks', 'dialect', 'channel', 'metadata', 'owner', 'extensionVersion'] as const;
// Fields a registration clears by no longer sending them (recorded as `null` in `PropletUpdated`).
const CLEARABLE_KEYS = new Set<string>(['maxTasks', 'extensionVersion']);

function decide(command: PropletCommand, state: PropletState): PropletEvent[] {
  const at = command.meta.issuedAt;
  switch (command.name) {
    case 'proplet.register':
      return decideRegister(command, state);
    case 'proplet.update': {
      const p = requireActive(state, command.aggregateId);
      const changed = diffReported(p.reported, command.data);
      return changed ? [{ type: 'PropletUpdated', data: { ...changed, updatedAt: at } }] : [];
    }
    case 'proplet.label': {
      const p = requireActive(state, command.aggregateId);
      const { propletId: _id, ...overrides } = command.data;
      const next = applyOverrides(p.overrides, overrides);
      if (isDeepStrictEqual(next, p.overrides)) return [];
      return [{ type: 'PropletLabelled', data: { ...overrides, labelledAt: at } }];
    }
    case 'proplet.cordon': {
      const p = requireActive(state, command.aggregateId);
      if (p.cordoned) return [];
      const reason = command.data.reason;
      return [{ type: 'PropletCordoned', data: reason === undefined ? { cordonedAt: at } : { reason, cordonedAt: at } }];
    }
    case 'proplet.uncordon': {
      const p = requireActive(state, command.aggregateId);
      return p.cordoned ? [{ type: 'PropletUncordoned', data: { uncordonedAt: at } }] : [];
    }
    case 'proplet.changeHealth': {
      const p = requireActive(state, command.aggregateId);
      const { to, reason, evidence } = command.data;
      if (to === 'deregistered') {
        throw InvalidError.field('data.to', to, 'health "deregistered" is set by proplet.deregister, not by the health judge');
      }
      if (to === p.health) return [];
      return [
        {
          type: 'PropletHealthChanged',
          data: { from: p.health, to, reason, evidence, fencingToken: command.meta.fencingToken ?? null, changedAt: at },
        },
      ];
    }
    case 'proplet.deregister': {
      if (state.status === 'deregistered') return [];
      requireActive(state, command.aggregateId);
      return [{ type: 'PropletDeregistered', data: { reason: command.data.reason, deregisteredAt: at } }];
    }
    default: {
      const never: never = command;
      throw InvalidError.field('command', (never as { name: string }).name, 'is not a proplet command');
    }
  }
}

function decideRegister(command: RegisterProplet, state: PropletState): PropletEvent[] {
  const d = command.data;
  const at = command.meta.issuedAt;
  if (state.status === 'active') {
    // A heartbeat registration only stands in for a `create` the plane has not seen; it carries
    // defaults, not a report, so it never overwrites what a known proplet registered with (a
    // gateway whose directory lags behind sends one right after the device's own `create`).
    if (d.origin === 'heartbeat') return [];
    // A re-registration of a known proplet: only what changed is recorded; operator overrides are
    // kept (they live in `overrides`, not in `reported`).
    const changed = diffReported(state.reported, d, { fullReport: true });
    // The device's own `create` is the authority on its type: a heartbeat that outran it (they
    // travel on different gateway connections) registered the proplet with the default type.
    const retyped = d.origin === 'create' && d.type !== state.type ? { type: d.type } : null;
    if (!changed && !retyped) return [];
    return [{ type: 'PropletUpdated', data: { ...retyped, ...changed, updatedAt: at } }];
  }
  if (state.status === 'deregistered' && d.origin === 'heartbeat') {
    // A deleted proplet stays deleted until it sends `create` again; heartbeats do not revive it.
    throw new NotFoundError(`proplet ${command.aggregateId} was deregistered (${state.reason}); it must register again`, {
      details: { propletId: command.aggregateId, deregisteredAt: state.deregisteredAt },
    });
  }
  return [
    {
      type: 'PropletRegistered',
      data: {
        type: d.type,
        deviceType: d.deviceType,
        capabilities: d.capabilities,
        labels: d.labels,
        capacity: d.capacity,
        ...(d.maxTasks === undefined ? {} : { maxTasks: d.maxTasks }),
        dialect: d.dialect,
        channel: d.channel,
        metadata: d.metadata,
        ...(d.owner === undefined ? {} : { owner: d.owner }),
        ...(d.extensionVersion === undefined ? {} : { extensionVersion: d.extensionVersion }),
        registeredAt: at,
      },
    },
  ];
}

function requireActive(state: PropletState, id: string): ActiveProplet {
  if (state.status === 'active') return state;
  if (state.status === 'deregistered') {
    throw new NotFoundError(`proplet ${id} was deregistered (${state.reason})`, { details: { propletId: id } });
  }
  throw new NotFoundError(`proplet ${id} is not registered`, { details: { propletId: id } });
}

type ReportedInput = Partial<{ [K in (typeof REPORTED_KEYS)[number]]: unknown }>;

/**
 * The reported fields present in `input` that differ from `current`, or `null` when none does.
 * A `fullReport` (a registration) that no longer mentions `maxTasks` lifts the previous limit, and
 * one without `extensionVersion` records that the proplet stopped sending the extension;
 * elsewhere an absent field means "unchanged".
 */
function diffReported(current: ReportedProplet, input: ReportedInput, opts: { fullReport?: boolean } = {}): Omit<PropletUpdatedData, 'updatedAt'> | null {
  const changed: Record<string, unknown> = {};
  for (const key of REPORTED_KEYS) {
    const next = input[key];
    if (next === undefined) {
      if (opts.fullReport && CLEARABLE_KEYS.has(key) && current[key] !== undefined) changed[key] = null;
      continue;
    }
    if (!isDeepStrictEqual(next, current[key])) changed[key] = next;
  }
  return Object.keys(changed).length === 0 ? null : (changed as Omit<PropletUpdatedData, 'updatedAt'>);
}

type OverridesInput = {
  labels?: Record<string, string> | null | undefined;
  capacity?: { cpu?: string | undefined; memory?: string | undefined } | null | undefined;
  deviceType?: string | null | undefined;
  capabilities?: string[] | null | undefined;
};

/** `null` clears an override, `undefined` leaves it as it is. */
function applyOverrides(current: ActiveProplet['overrides'], input: OverridesInput): ActiveProplet['overrides'] {
  const pick = <T>(given: T | null | undefined, old: T | undefined): T | undefined => (given === undefined ? old : (given ?? undefined));
  return {
    labels: pick(input.labels, current.labels),
    capacity: pick(input.capacity, current.capacity),
    deviceType: pick(input.deviceType, current.deviceType),
    capabilities: pick(input.capabilities, current.capabilities),
  };
}

function evolve(state: PropletState, event: PropletEvent): PropletState {
  switch (event.type) {
    case 'PropletRegistered': {
      const d = event.data;
      return {
        status: 'active',
        type: d.type,
        reported: {
          deviceType: d.deviceType,
          capabilities: d.capabilities,
          labels: d.labels,
          capacity: d.capacity,
          maxTasks: d.maxTasks,
          dialect: d.dialect,
          channel: d.channel,
          metadata: d.metadata,
          owner: d.owner,
          extensionVersion: d.extensionVersion,
        },
        overrides: NO_OVERRIDES,
        cordoned: false,
        health: 'unknown',
        healthChangedAt: undefined,
        registeredAt: d.registeredAt,
      };
    }
    case 'PropletUpdated': {
      if (state.status !== 'active') return state;
      const { updatedAt: _at, maxTasks, extensionVersion, type, ...rest } = event.data;
      const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
      return {
        ...state,
        type: type ?? state.type,
        reported: {
          ...state.reported,
          ...defined,
          maxTasks: maxTasks === undefined ? state.reported.maxTasks : (maxTasks ?? undefined),
          extensionVersion: extensionVersion === undefined ? state.reported.extensionVersion : (extensionVersion ?? undefined),
        },
      };
    }
    case 'PropletLabelled': {
      if (state.status !== 'active') return state;
      const { labelledAt: _at, ...overrides } = event.data;
      return { ...state, overrides: applyOverrides(state.overrides, overrides) };
    }
    case 'PropletCordoned':
      return state.status === 'active' ? { ...state, cordoned: true } : state;
    case 'PropletUncordoned':
      return state.status === 'active' ? { ...state, cordoned: false } : state;
    case 'PropletHealthChanged': {
      if (state.status !== 'active' || event.data.to === 'deregistered') return state;
      return { ...state, health: event.data.to, healthChangedAt: event.data.changedAt };
    }
    case 'PropletDeregistered': {
      const type = state.status === 'absent' ? 'external' : state.type;
      return { status: 'deregistered', type, deregisteredAt: event.data.deregisteredAt, reason: event.data.reason };
    }
    default: {
      const never: never = event;
      return never;
    }
  }
}
