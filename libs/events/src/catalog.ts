import { z } from 'zod';
import { AggregateIdSchema, TimestampSchema } from './common';
import { type AggregateName, type Envelope, EnvelopeSchema, type EventMeta, type StoredEnvelope } from './envelope';
import { InvalidError } from './errors';
import {
  type PropletEvent,
  PropletCordonedDataSchema,
  PropletDeregisteredDataSchema,
  PropletHealthChangedDataSchema,
  PropletLabelledDataSchema,
  PropletRegisteredDataSchema,
  PropletRegisteredV1DataSchema,
  PropletUncordonedDataSchema,
  PropletUpdatedDataSchema,
  upcastPropletRegisteredV1,
} from './proplet-events';
import { type SiteEvent, SiteEvacuationPausedDataSchema, SiteEvacuationResumedDataSchema } from './site-events';
import {
  type TaskEvent,
  TaskArchivedDataSchema,
  TaskCompletedDataSchema,
  TaskCreatedDataSchema,
  TaskDeletedDataSchema,
  TaskDispatchedDataSchema,
  TaskEvacuatedDataSchema,
  TaskFailedDataSchema,
  TaskResultDiscardedDataSchema,
  TaskRunningDataSchema,
  TaskScheduledDataSchema,
  TaskStartedDataSchema,
  TaskStoppedDataSchema,
  TaskUnschedulableDataSchema,
  TaskUpdatedDataSchema,
} from './task-events';
import { parseOrThrow } from './validation';

/** Every domain event, discriminated on `type`. */
export type DomainEvent = PropletEvent | TaskEvent | SiteEvent;
/** Every event type name. */
export type DomainEventType = DomainEvent['type'];
/** The event whose `type` is `T`. */
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** An envelope whose `type` and `data` belong together, so `switch (e.type)` narrows `e.data`. */
export type EventEnvelope<E extends DomainEvent = DomainEvent> = E extends DomainEvent ? Envelope<E['type'], E['data']> : never;

/** A typed event envelope read from the stream, with its stream sequence. */
export type StoredEventEnvelope<E extends DomainEvent = DomainEvent> = EventEnvelope<E> & { seq: number };

/**
 * One upgrade step of an event's data, from `fromVersion` to `fromVersion + 1`. `schema` validates
 * the old shape first, so a malformed old event fails naming the old version and the field.
 */
export interface Upcaster {
  readonly fromVersion: number;
  readonly schema: z.ZodType;
  readonly up: (data: never) => unknown;
}

/** Builds a typed upcaster (the `up` function receives the old schema's output). */
export function defineUpcaster<S extends z.ZodType>(fromVersion: number, schema: S, up: (data: z.output<S>) => unknown): Upcaster {
  return { fromVersion, schema, up: up as (data: never) => unknown };
}

/** What the catalog knows about one event type. */
export interface EventDefinition<A extends AggregateName = AggregateName, S extends z.ZodType = z.ZodType> {
  readonly aggregate: A;
  /** Version written today; older versions are upcast when read. */
  readonly schemaVersion: number;
  readonly dataSchema: S;
  /** One step per older version: 1→2, 2→3, … */
  readonly upcasters: readonly Upcaster[];
}

const def = <A extends AggregateName, S extends z.ZodType>(
  aggregate: A,
  dataSchema: S,
  schemaVersion = 1,
  upcasters: readonly Upcaster[] = [],
): EventDefinition<A, S> => ({ aggregate, schemaVersion, dataSchema, upcasters });

/** The runtime event catalog: `type → {aggregate, schemaVersion, dataSchema, upcasters}`. */
export const EVENT_CATALOG = {
  PropletRegistered: def('proplet', PropletRegisteredDataSchema, 2, [defineUpcaster(1, PropletRegisteredV1DataSchema, upcastPropletRegisteredV1)]),
  PropletUpdated: def('proplet', PropletUpdatedDataSchema),
  PropletLabelled: def('proplet', PropletLabelledDataSchema),
  PropletCordoned: def('proplet', PropletCordonedDataSchema),
  PropletUncordoned: def('proplet', PropletUncordonedDataSchema),
  PropletHealthChanged: def('proplet', PropletHealthChangedDataSchema),
  PropletDeregistered: def('proplet', PropletDeregisteredDataSchema),
  SiteEvacuationPaused: def('site', SiteEvacuationPausedDataSchema),
  SiteEvacuationResumed: def('site', SiteEvacuationResumedDataSchema),
  TaskCreated: def('task', TaskCreatedDataSchema),
  TaskUpdated: def('task', TaskUpdatedDataSchema),
  TaskStarted: def('task', TaskStartedDataSchema),
  TaskScheduled: def('task', TaskScheduledDataSchema),
  TaskDispatched: def('task', TaskDispatchedDataSchema),
  TaskRunning: def('task', TaskRunningDataSchema),
  TaskCompleted: def('task', TaskCompletedDataSchema),
  TaskFailed: def('task', TaskFailedDataSchema),
  TaskStopped: def('task', TaskStoppedDataSchema),
  TaskEvacuated: def('task', TaskEvacuatedDataSchema),
  TaskUnschedulable: def('task', TaskUnschedulableDataSchema),
  TaskResultDiscarded: def('task', TaskResultDiscardedDataSchema),
  TaskArchived: def('task', TaskArchivedDataSchema),
  TaskDeleted: def('task', TaskDeletedDataSchema),
} as const;

// Compile-time guard: the catalog and the unions name exactly the same types, with the same data.
type CatalogData = { [K in keyof typeof EVENT_CATALOG]: z.output<(typeof EVENT_CATALOG)[K]['dataSchema']> };
type UnionData = { [K in DomainEventType]: EventOf<K>['data'] };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _catalogMatchesUnions: Same<CatalogData, UnionData> = true;

/** Every event type name, in catalog order. */
export const EVENT_TYPES = Object.keys(EVENT_CATALOG) as DomainEventType[];

/** True when `type` is in the catalog. */
export const isEventType = (type: string): type is DomainEventType => Object.prototype.hasOwnProperty.call(EVENT_CATALOG, type);

/** The event types of one aggregate (what a consumer of `<p>.events.<aggregate>.*` can see). */
export function eventTypesOf(aggregate: AggregateName): DomainEventType[] {
  return EVENT_TYPES.filter((t) => EVENT_CATALOG[t].aggregate === aggregate);
}

function definitionOrThrow(type: string): EventDefinition {
  if (!isEventType(type)) throw InvalidError.field('type', type, 'is not a known event type');
  return EVENT_CATALOG[type];
}

/**
 * Brings `data` written at `schemaVersion` to the current version of `type` and validates it.
 * Throws `InvalidError` naming the type, the version and the field.
 */
export function upcastEventData<T extends DomainEventType>(type: T, schemaVersion: number, data: unknown): EventOf<T>['data'];
export function upcastEventData(type: string, schemaVersion: number, data: unknown): unknown;
export function upcastEventData(type: string, schemaVersion: number, data: unknown): unknown {
  const d = definitionOrThrow(type);
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
    throw InvalidError.field('schemaVersion', schemaVersion, `${type}: must be an integer >= 1`);
  }
  if (schemaVersion > d.schemaVersion) {
    throw InvalidError.field('schemaVersion', schemaVersion, `${type}: written by a newer producer; this reader knows up to v${d.schemaVersion}`);
  }
  let current = data;
  for (let v = schemaVersion; v < d.schemaVersion; v++) {
    const step = d.upcasters.find((u) => u.fromVersion === v);
    if (step === undefined) throw InvalidError.field('schemaVersion', schemaVersion, `${type}: no upcaster from v${v}`);
    const old = parseOrThrow(step.schema, current, `${type} v${v}`, 'data');
    current = step.up(old as never);
  }
  const via = schemaVersion === d.schemaVersion ? '' : ` (upcast from v${schemaVersion})`;
  return parseOrThrow(d.dataSchema, current, `${type} v${d.schemaVersion}${via}`, 'data');
}

/**
 * Validates an envelope read from the log, upcasts its data step by step to the current schema
 * version and validates it. Returns a typed event envelope (with the current `schemaVersion`) or
 * throws `InvalidError` naming the type, the version and the field. Unknown types throw too:
 * consumers that skip unknown types do so from the `Propeller-Type` header before parsing.
 */
export function parseEvent(raw: unknown): EventEnvelope {
  return parseEnvelopeAndData(raw, undefined) as EventEnvelope;
}

/** `parseEvent` for an envelope the event store read back; keeps its stream sequence. */
export function parseStoredEvent(stored: StoredEnvelope): StoredEventEnvelope {
  // Already checked in this process (`appendedEvent`): as it is.
  if (checked.has(stored)) return stored as StoredEventEnvelope;
  return parseEnvelopeAndData(stored, stored.seq) as StoredEventEnvelope;
}

/** Envelopes `makeEnvelope` built (their data passed the schema), and events `appendedEvent` built from them. */
const made = new WeakSet<object>();
const checked = new WeakSet<object>();

/** True when `makeEnvelope` built this envelope: its fields and data passed the schema of its type. */
export function isMadeEnvelope(envelope: object): boolean {
  return made.has(envelope);
}

/**
 * The event a reader gets from the bytes of an envelope `makeEnvelope` built, without checking it again:
 * `json` is that envelope's JSON text (what was appended), `seq` where it was stored. Equal to
 * `parseStoredEvent` of those bytes, because the data written is the schema's own output (defaults applied,
 * unknown fields dropped, the transforms idempotent), of the current schema version; frozen (the envelope and
 * its data), since readers in one process share it. `parseStoredEvent` returns it as it is. For the event
 * store's `RecentEvents`: only text made from a `makeEnvelope` envelope may come here.
 */
export function appendedEvent(json: string, seq: number): StoredEventEnvelope {
  const e = JSON.parse(json) as StoredEventEnvelope;
  e.seq = seq;
  Object.freeze(e.data);
  checked.add(Object.freeze(e));
  return e;
}

/** `parseEvent`, building the result once (with `seq` when given) instead of spreading it twice. */
function parseEnvelopeAndData(raw: unknown, seq: number | undefined): EventEnvelope | StoredEventEnvelope {
  const env = checkEnvelope(raw) ?? parseOrThrow(EnvelopeSchema, raw, 'event envelope');
  const d = definitionOrThrow(env.type);
  if (env.aggregate !== d.aggregate) {
    throw InvalidError.field('aggregate', env.aggregate, `${env.type} belongs to aggregate ${d.aggregate}`);
  }
  const data = upcastEventData(env.type, env.schemaVersion, env.data);
  const { id, type, aggregate, aggregateId, occurredAt, correlationId, causationId, traceparent } = env;
  const schemaVersion = d.schemaVersion;
  if (seq === undefined) return { id, type, schemaVersion, aggregate, aggregateId, occurredAt, correlationId, causationId, traceparent, data } as EventEnvelope;
  return { id, type, schemaVersion, aggregate, aggregateId, occurredAt, correlationId, causationId, traceparent, data, seq } as StoredEventEnvelope;
}

/** The pattern a string field of `EnvelopeSchema` is checked against (`null` when it has none we can read). */
function envelopePattern(field: 'id' | 'occurredAt', schema: z.ZodObject = EnvelopeSchema): RegExp | null {
  const pattern = (schema.shape[field] as unknown as { _zod?: { def?: { pattern?: unknown } } })._zod?.def?.pattern;
  return pattern instanceof RegExp && !pattern.global && !pattern.sticky ? pattern : null;
}

// The schema's own patterns, so the fast check accepts exactly what the schema accepts.
const ENVELOPE_ID_PATTERN = envelopePattern('id');
const ENVELOPE_AT_PATTERN = envelopePattern('occurredAt');

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isTextOrNull = (v: unknown): boolean => v === null || typeof v === 'string';

/**
 * `EnvelopeSchema.parse` without zod's per-field machinery, for the envelope every event read
 * (`parseEvent`, `parseStoredEvent`) checks. Returns the envelope's fields when they are valid, and
 * `null` for anything else (then `EnvelopeSchema` decides and names the field): it never accepts
 * what the schema refuses. Exported for its spec.
 */
export function checkEnvelope(raw: unknown): Envelope | null {
  if (ENVELOPE_ID_PATTERN === null || ENVELOPE_AT_PATTERN === null) return null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const id = r.id;
  const type = r.type;
  const schemaVersion = r.schemaVersion;
  const aggregate = r.aggregate;
  const aggregateId = r.aggregateId;
  const occurredAt = r.occurredAt;
  const correlationId = r.correlationId;
  const causationId = r.causationId;
  const traceparent = r.traceparent;
  if (
    !isText(id) ||
    !ENVELOPE_ID_PATTERN.test(id) ||
    !isText(type) ||
    typeof schemaVersion !== 'number' ||
    !Number.isSafeInteger(schemaVersion) ||
    schemaVersion <= 0 ||
    !isText(aggregate) ||
    !isText(aggregateId) ||
    typeof occurredAt !== 'string' ||
    !ENVELOPE_AT_PATTERN.test(occurredAt) ||
    !isText(correlationId) ||
    !isTextOrNull(causationId) ||
    !isTextOrNull(traceparent) ||
    !('data' in r)
  ) {
    return null;
  }
  return {
    id,
    type,
    schemaVersion,
    aggregate,
    aggregateId,
    occurredAt,
    correlationId,
    causationId: causationId as string | null,
    traceparent: traceparent as string | null,
    data: r.data,
  };
}

/** Inputs of `makeEnvelope`. Ids and the clock come in from the edge (STYLE.md rule 8). */
export interface MakeEnvelopeInput<E extends DomainEvent> {
  event: E;
  /** Optional; when given it must be the event type's aggregate. */
  aggregate?: AggregateName | (string & {});
  aggregateId: string;
  meta: EventMeta;
  /** UUID; also the JetStream message id. */
  id: string;
  occurredAt: string | Date;
}

const MakeEnvelopeFieldsSchema = z.object({
  id: z.uuid(),
  aggregateId: AggregateIdSchema,
  occurredAt: TimestampSchema,
  correlationId: z.string().min(1),
});

const AGGREGATE_ID_MAX_BYTES = 200;
const FIELDS_ID_PATTERN = envelopePattern('id', MakeEnvelopeFieldsSchema);
const FIELDS_AT_PATTERN = envelopePattern('occurredAt', MakeEnvelopeFieldsSchema);

/**
 * `MakeEnvelopeFieldsSchema` without zod, for the envelope of every event written: true only when the
 * schema would accept the fields unchanged (then they are used as they are); anything else goes to the
 * schema, which names the field. Never accepts what the schema refuses. Exported for its spec.
 */
export function envelopeFieldsValid(f: { id: unknown; aggregateId: unknown; occurredAt: unknown; correlationId: unknown }): boolean {
  return (
    FIELDS_ID_PATTERN !== null &&
    FIELDS_AT_PATTERN !== null &&
    isText(f.id) &&
    FIELDS_ID_PATTERN.test(f.id) &&
    isText(f.aggregateId) &&
    (f.aggregateId.length * 3 <= AGGREGATE_ID_MAX_BYTES || Buffer.byteLength(f.aggregateId, 'utf8') <= AGGREGATE_ID_MAX_BYTES) &&
    typeof f.occurredAt === 'string' &&
    FIELDS_AT_PATTERN.test(f.occurredAt) &&
    isText(f.correlationId)
  );
}

/**
 * Wraps an event in its envelope at the current schema version, validating its data first, so a
 * broken invariant throws `InvalidError` before anything is written.
 */
export function makeEnvelope<E extends DomainEvent>(input: MakeEnvelopeInput<E>): EventEnvelope<E> {
  const { event, meta } = input;
  const d = definitionOrThrow(event.type);
  if (input.aggregate !== undefined && input.aggregate !== d.aggregate) {
    throw InvalidError.field('aggregate', input.aggregate, `${event.type} belongs to aggregate ${d.aggregate}`);
  }
  const occurredAt = input.occurredAt instanceof Date ? input.occurredAt.toISOString() : input.occurredAt;
  const given = { id: input.id, aggregateId: input.aggregateId, occurredAt, correlationId: meta.correlationId };
  const fields = envelopeFieldsValid(given) ? given : parseOrThrow(MakeEnvelopeFieldsSchema, given, `${event.type} envelope`);
  const data = parseOrThrow(d.dataSchema, event.data, `${event.type} v${d.schemaVersion}`, 'data');
  const envelope: Envelope = {
    id: fields.id,
    type: event.type,
    schemaVersion: d.schemaVersion,
    aggregate: d.aggregate,
    aggregateId: fields.aggregateId,
    occurredAt: fields.occurredAt,
    correlationId: fields.correlationId,
    causationId: meta.causationId ?? null,
    traceparent: meta.traceparent ?? null,
    data,
  };
  made.add(envelope);
  return envelope as EventEnvelope<E>;
}

/** Event data as JSON bytes for the log. */
export function encodeEvent(envelope: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(envelope));
}

/** `parseEvent` for bytes read from the log; bytes that are not JSON throw `InvalidError`. */
export function decodeEvent(bytes: Uint8Array): EventEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new InvalidError(`event envelope: not JSON (${e instanceof Error ? e.message : String(e)})`, [
      { field: '(root)', rule: 'must be a JSON object' },
    ]);
  }
  return parseEvent(raw);
}
