/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB> (or a transaction); these functions touch only `proplets` */
import { sql, type Kysely, type Selectable } from 'kysely';
import { InvalidError, NotFoundError, PropletTypeSchema, type Channel, type Dialect, type Labels, type Owner, type PropletMetadata, type PropletType, type Resources } from '@propeller/events';
import type { PropletsTable, ReadModelTables, RowHealth } from './table';

/** Health values that count as `status=active`: `healthy`, and `unknown` (registered, no heartbeat judged yet). */
export const ACTIVE_HEALTH: readonly RowHealth[] = ['healthy', 'unknown'];
/** Health values that count as `status=inactive`: `offline` and `failed`. */
export const INACTIVE_HEALTH: readonly RowHealth[] = ['offline', 'failed'];
const HEALTH_VALUES: readonly RowHealth[] = [...ACTIVE_HEALTH, ...INACTIVE_HEALTH];

/** Default page size of `listProplets`. */
export const DEFAULT_LIMIT = 100;
/** Largest page size `listProplets` accepts. */
export const MAX_LIMIT = 1000;

/**
 * True when a proplet with this health is *active*: it is registered (deregistered proplets are not in
 * the read model at all) and its health is `healthy` or `unknown`. Cordoning does not change it:
 * a cordoned proplet is alive, it only takes no new work.
 */
export function isActiveHealth(health: RowHealth): boolean {
  return ACTIVE_HEALTH.includes(health);
}

/** One proplet as the API reads it (domain casing; the API turns it into snake_case). */
export interface PropletView {
  id: string;
  type: PropletType;
  deviceType: string;
  capabilities: string[];
  labels: Labels;
  capacity: Resources;
  /** Most tasks at once; `null` = unbounded. */
  maxTasks: number | null;
  health: RowHealth;
  /** When the health last changed (ISO-8601); the registration time while `unknown`. The API computes the age. */
  observedAt: string;
  /** `isActiveHealth(health)`. */
  active: boolean;
  cordoned: boolean;
  channel: Channel;
  dialect: Dialect;
  /** Version of the `propeller` extension; `null` for upstream proplets. */
  extensionVersion: number | null;
  /** Unfinished tasks placed on it (0 until the tasks read model fills it). */
  taskCount: number;
  /** Tasks running on it (0 until the tasks read model fills it). */
  runningTaskCount: number;
  metadata: PropletMetadata;
  owner: Owner | null;
  registeredAt: string;
  updatedAt: string;
  /** Stream sequence of the last event applied to this row (usable as an ETag). */
  seq: number;
}

/** Filters and page of `listProplets`; every filter is optional and they combine with AND. */
export interface ListPropletsQuery {
  /** Rows to skip (default 0). */
  offset?: number;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
  type?: PropletType;
  /** One health value, or several (any of them). */
  health?: RowHealth | readonly RowHealth[];
  deviceType?: string;
  /** The proplet has this capability (several: all of them). */
  capability?: string | readonly string[];
  /** `key=value` (an empty value matches an empty label); several: all of them. Split at the first `=`. */
  label?: string | readonly string[];
  /** `active`: health `healthy` or `unknown`; `inactive`: `offline` or `failed` (see `isActiveHealth`). */
  status?: 'active' | 'inactive';
}

/** A page of proplets, in id order, with the number of rows matching the filters. */
export interface PropletPage {
  offset: number;
  limit: number;
  total: number;
  proplets: PropletView[];
}

const asArray = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

function intIn(field: string, value: unknown, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw InvalidError.field(field, value, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function parseLabel(raw: string): [string, string] {
  const at = typeof raw === 'string' ? raw.indexOf('=') : -1;
  if (at <= 0) throw InvalidError.field('label', raw, 'must be key=value with a non-empty key');
  return [raw.slice(0, at), raw.slice(at + 1)];
}

/** The validated filters; throws `InvalidError` naming the field, the value and the rule. */
function normalise(q: ListPropletsQuery) {
  const offset = intIn('offset', q.offset, 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intIn('limit', q.limit, DEFAULT_LIMIT, 1, MAX_LIMIT);
  if (q.type !== undefined && !PropletTypeSchema.options.includes(q.type)) {
    throw InvalidError.field('type', q.type, `must be one of ${PropletTypeSchema.options.join(', ')}`);
  }
  const health = asArray(q.health);
  for (const h of health) {
    if (!HEALTH_VALUES.includes(h)) throw InvalidError.field('health', h, `must be one of ${HEALTH_VALUES.join(', ')}`);
  }
  if (q.status !== undefined && q.status !== 'active' && q.status !== 'inactive') {
    throw InvalidError.field('status', q.status, 'must be active or inactive');
  }
  if (q.deviceType !== undefined && (typeof q.deviceType !== 'string' || q.deviceType === '')) {
    throw InvalidError.field('deviceType', q.deviceType, 'must be a non-empty string');
  }
  const capabilities = asArray(q.capability);
  for (const c of capabilities) if (typeof c !== 'string' || c === '') throw InvalidError.field('capability', c, 'must be a non-empty string');
  const labels = Object.fromEntries(asArray(q.label).map(parseLabel));
  if (asArray(q.label).length !== Object.keys(labels).length) {
    throw InvalidError.field('label', q.label, 'must not name the same key twice');
  }
  return { offset, limit, type: q.type, health, deviceType: q.deviceType, capabilities, labels, status: q.status };
}

const table = (db: Kysely<any>): Kysely<ReadModelTables> => db as Kysely<ReadModelTables>;

/**
 * A page of the proplets read model, in id order, filtered by type, health, device type, capabilities
 * (all), labels (all `key=value`) and `status` (`active` = `healthy`|`unknown`, `inactive` =
 * `offline`|`failed`; deregistered proplets are never listed). `total` counts every matching row.
 * Throws `InvalidError` for a bad filter or page.
 */
export async function listProplets(db: Kysely<any>, query: ListPropletsQuery = {}): Promise<PropletPage> {
  const f = normalise(query);
  let q = table(db).selectFrom('proplets');
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.health.length > 0) q = q.where('health', 'in', f.health);
  if (f.status !== undefined) q = q.where('health', 'in', f.status === 'active' ? ACTIVE_HEALTH : INACTIVE_HEALTH);
  if (f.deviceType !== undefined) q = q.where('device_type', '=', f.deviceType);
  if (f.capabilities.length > 0) q = q.where(sql<boolean>`capabilities @> ${sql.val([...f.capabilities])}::text[]`);
  if (Object.keys(f.labels).length > 0) q = q.where(sql<boolean>`labels @> ${JSON.stringify(f.labels)}::jsonb`);
  const [count, rows] = await Promise.all([
    q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    q.selectAll().orderBy('id').offset(f.offset).limit(f.limit).execute(),
  ]);
  return { offset: f.offset, limit: f.limit, total: Number(count.total), proplets: rows.map(toView) };
}

/** One proplet, or `undefined` when it is not registered (never was, or deregistered). */
export async function getProplet(db: Kysely<any>, id: string): Promise<PropletView | undefined> {
  const row = await table(db).selectFrom('proplets').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : toView(row);
}

/** One proplet; throws `NotFoundError` when it is not registered (never was, or deregistered). */
export async function getPropletOrThrow(db: Kysely<any>, id: string): Promise<PropletView> {
  const found = await getProplet(db, id);
  if (found === undefined) throw new NotFoundError(`proplet ${id} is not registered`, { details: { propletId: id } });
  return found;
}

const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** A table row as the API sees it. */
export function toView(row: Selectable<PropletsTable>): PropletView {
  return {
    id: row.id,
    type: row.type,
    deviceType: row.device_type,
    capabilities: row.capabilities,
    labels: row.labels,
    capacity: row.capacity,
    maxTasks: row.max_tasks,
    health: row.health,
    observedAt: iso(row.observed_at),
    active: isActiveHealth(row.health),
    cordoned: row.cordoned,
    channel: { domainId: row.domain_id, channelId: row.channel_id, layout: row.layout, perPropletTopics: row.per_proplet_topics },
    dialect: row.dialect,
    extensionVersion: row.extension_version,
    taskCount: row.task_count,
    runningTaskCount: row.running_task_count,
    metadata: row.metadata,
    owner: row.owner,
    registeredAt: iso(row.registered_at),
    updatedAt: iso(row.updated_at),
    seq: Number(row.last_seq),
  };
}
