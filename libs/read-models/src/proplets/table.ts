import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { Channel, Dialect, Labels, Owner, PropletHealth, PropletMetadata, PropletType, Resources } from '@propeller/events';

/** Health values a row can hold: deregistered proplets leave the read model. */
export type RowHealth = Exclude<PropletHealth, 'deregistered'>;

type Timestamp = ColumnType<Date, Date | string, Date | string>;

/**
 * The `proplets` table (migration `20261127T1500_create_proplets`): one row per registered proplet
 * with the effective values (operator overrides over device reports). Written only by the
 * registry's `proplets` projection; read by the API through the query functions.
 */
export interface PropletsTable {
  id: string;
  type: PropletType;
  device_type: string;
  /** Effective capabilities (text[]; GIN-indexed for `capability` filters). */
  capabilities: string[];
  /** Effective labels (jsonb; GIN-indexed for `label` filters). */
  labels: JSONColumnType<Labels>;
  capacity: JSONColumnType<Resources>;
  /** Most tasks at once; null = unbounded. */
  max_tasks: number | null;
  health: RowHealth;
  /** When the health last changed (the registration time while still `unknown`). */
  observed_at: Timestamp;
  cordoned: boolean;
  domain_id: string;
  channel_id: string;
  layout: Channel['layout'];
  per_proplet_topics: boolean;
  dialect: Dialect;
  /** Version of the `propeller` extension; null for upstream proplets. */
  extension_version: number | null;
  /** Unfinished tasks placed on the proplet (0 until the tasks read model fills it). */
  task_count: Generated<number>;
  /** Tasks running on the proplet (0 until the tasks read model fills it). */
  running_task_count: Generated<number>;
  metadata: JSONColumnType<PropletMetadata>;
  /** The owning Kubernetes object, if any. */
  owner: JSONColumnType<Owner> | null;
  registered_at: Timestamp;
  /** Time of the last event applied to the row. */
  updated_at: Timestamp;
  /** The proplet aggregate's folded state, so the projection folds with the decider's own `evolve`. */
  state: JSONColumnType<object>;
  /** Stream sequence of the last event applied to the row. */
  last_seq: number;
}

/** The tables of this lib, for typing a `Kysely` that reads them. */
export interface ReadModelTables {
  proplets: PropletsTable;
}
