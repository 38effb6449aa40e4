import { z } from 'zod';
import {
  ChannelSchema,
  DialectSchema,
  FencingTokenSchema,
  LabelsSchema,
  OwnerSchema,
  PropletHealthSchema,
  PropletMetadataSchema,
  PropletTypeSchema,
  ResourcesSchema,
  TimestampSchema,
  type TypedEvent,
} from './common';

/**
 * Events of the Proplet aggregate (subject `<p>.events.proplet.<propletId>`), written by the
 * registry only. The proplet id is the envelope's `aggregateId`, so it is not repeated in `data`.
 */

const capabilities = z.array(z.string().min(1));
const deviceType = z.string().min(1);
const maxTasks = z.number().int().positive();

/** Current (v2) data of `PropletRegistered`: a new proplet, or one that re-registers after being deregistered. */
export const PropletRegisteredDataSchema = z.object({
  type: PropletTypeSchema,
  deviceType,
  capabilities,
  labels: LabelsSchema,
  /** Reported capacity; a missing resource is unknown and does not constrain placement. */
  capacity: ResourcesSchema,
  /** Most tasks the proplet runs at once; absent = unbounded. */
  maxTasks: maxTasks.optional(),
  dialect: DialectSchema,
  channel: ChannelSchema,
  metadata: PropletMetadataSchema,
  /** Set for `k8s` proplets (the pod's CR) and pre-registered external ones. */
  owner: OwnerSchema.optional(),
  /** Version of the `propeller` extension the proplet sent (PROTOCOL.md "create"); absent for upstream proplets, which get no extension fields in their starts. */
  extensionVersion: z.number().int().positive().optional(),
  registeredAt: TimestampSchema,
});
export type PropletRegisteredData = z.infer<typeof PropletRegisteredDataSchema>;
export type PropletRegistered = TypedEvent<'PropletRegistered', PropletRegisteredData>;

/**
 * v1 of `PropletRegistered` data: one `channelId` string, no domain, no layout, no per-proplet topics.
 * Kept only so that old events can be upcast when read (never written).
 */
export const PropletRegisteredV1DataSchema = PropletRegisteredDataSchema.omit({ channel: true }).extend({
  channelId: z.string().min(1),
});
/** v1 data of `PropletRegistered` (read only, through the upcaster). */
export type PropletRegisteredV1Data = z.infer<typeof PropletRegisteredV1DataSchema>;

/** Domain that v1 events implicitly used (the default `PROPELLER_DOMAIN_ID`). */
export const V1_DOMAIN_ID = 'propeller';

/**
 * v1 → v2: the channel becomes `{domainId, channelId, layout, perPropletTopics}`. v1 predates the
 * `direct` layout and per-proplet topics, so it maps to `messages` and shared topics (the only
 * topics such a proplet listens on).
 */
export function upcastPropletRegisteredV1(v1: PropletRegisteredV1Data): PropletRegisteredData {
  const { channelId, ...rest } = v1;
  return { ...rest, channel: { domainId: V1_DOMAIN_ID, channelId, layout: 'messages', perPropletTopics: false } };
}

/**
 * Device-reported changes of a known proplet (a re-registration or a pod update). Each present field
 * replaces the device-reported value; operator overrides (`PropletLabelled`) still win over it.
 */
export const PropletUpdatedDataSchema = z
  .object({
    /**
     * Set only when the device's own `create` names another type than the proplet was first
     * registered with (a heartbeat that outran the `create` registered it with the default).
     */
    type: PropletTypeSchema.optional(),
    deviceType: deviceType.optional(),
    capabilities: capabilities.optional(),
    labels: LabelsSchema.optional(),
    capacity: ResourcesSchema.optional(),
    maxTasks: maxTasks.nullable().optional(),
    dialect: DialectSchema.optional(),
    channel: ChannelSchema.optional(),
    metadata: PropletMetadataSchema.optional(),
    owner: OwnerSchema.optional(),
    /** `null`: the proplet no longer sends the extension. */
    extensionVersion: z.number().int().positive().nullable().optional(),
    updatedAt: TimestampSchema,
  })
  .refine((d) => Object.keys(d).some((k) => k !== 'updatedAt'), { message: 'must change at least one field' });
export type PropletUpdatedData = z.infer<typeof PropletUpdatedDataSchema>;
export type PropletUpdated = TypedEvent<'PropletUpdated', PropletUpdatedData>;

/** The fields an operator can override; they win over device reports and survive re-registration. */
export const PropletOverridesSchema = z.object({
  /** Replaces the operator's label overrides (merged over the device's labels); `null` clears them. */
  labels: LabelsSchema.nullable().optional(),
  /** Replaces the capacity; `null` returns to the device-reported one. */
  capacity: ResourcesSchema.nullable().optional(),
  deviceType: deviceType.nullable().optional(),
  capabilities: capabilities.nullable().optional(),
});
export type PropletOverrides = z.infer<typeof PropletOverridesSchema>;

const hasOverride = (d: PropletOverrides): boolean =>
  d.labels !== undefined || d.capacity !== undefined || d.deviceType !== undefined || d.capabilities !== undefined;

/** An operator set overrides (REST, CLI or the `Proplet` CR). */
export const PropletLabelledDataSchema = PropletOverridesSchema.extend({ labelledAt: TimestampSchema }).refine(hasOverride, {
  message: 'must set at least one of labels, capacity, deviceType, capabilities',
});
export type PropletLabelledData = z.infer<typeof PropletLabelledDataSchema>;
export type PropletLabelled = TypedEvent<'PropletLabelled', PropletLabelledData>;

/** The proplet takes no new work; running tasks continue. */
export const PropletCordonedDataSchema = z.object({ reason: z.string().optional(), cordonedAt: TimestampSchema });
export type PropletCordonedData = z.infer<typeof PropletCordonedDataSchema>;
export type PropletCordoned = TypedEvent<'PropletCordoned', PropletCordonedData>;

/** The proplet takes new work again. */
export const PropletUncordonedDataSchema = z.object({ uncordonedAt: TimestampSchema });
export type PropletUncordonedData = z.infer<typeof PropletUncordonedDataSchema>;
export type PropletUncordoned = TypedEvent<'PropletUncordoned', PropletUncordonedData>;

/** What the health judge saw. */
export const HealthEvidenceSchema = z.object({
  /** Last heartbeat or readiness the judge knew of. */
  lastSeenAt: TimestampSchema.optional(),
  /** Silence at the time of the judgement, in ms. */
  ageMs: z.number().int().nonnegative().optional(),
  /** Which input decided: a heartbeat, a last-will, silence past a threshold, pod readiness, a deleted pod, a deregistration. */
  source: z.enum(['heartbeat', 'lastWill', 'silence', 'podReadiness', 'podDeleted', 'deregistration']),
});
export type HealthEvidence = z.infer<typeof HealthEvidenceSchema>;

/** The health judge changed a proplet's health (only on a change, never per heartbeat). */
export const PropletHealthChangedDataSchema = z
  .object({
    from: PropletHealthSchema,
    to: PropletHealthSchema,
    reason: z.string().min(1),
    evidence: HealthEvidenceSchema,
    /** Lease revision of the judge that decided; `null` when the registry itself decided (deregistration). */
    fencingToken: FencingTokenSchema.nullable(),
    changedAt: TimestampSchema,
  })
  .refine((d) => d.from !== d.to, { message: 'from and to must differ', path: ['to'] });
export type PropletHealthChangedData = z.infer<typeof PropletHealthChangedDataSchema>;
export type PropletHealthChanged = TypedEvent<'PropletHealthChanged', PropletHealthChangedData>;

/** The proplet left (pod deleted, CR deleted, operator). It stays deleted until it registers again. */
export const PropletDeregisteredDataSchema = z.object({ reason: z.string().min(1), deregisteredAt: TimestampSchema });
export type PropletDeregisteredData = z.infer<typeof PropletDeregisteredDataSchema>;
export type PropletDeregistered = TypedEvent<'PropletDeregistered', PropletDeregisteredData>;

/** Every Proplet event, discriminated on `type`. */
export type PropletEvent =
  | PropletRegistered
  | PropletUpdated
  | PropletLabelled
  | PropletCordoned
  | PropletUncordoned
  | PropletHealthChanged
  | PropletDeregistered;
