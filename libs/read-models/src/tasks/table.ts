import type { ColumnType, JSONColumnType } from 'kysely';
import type { Labels, ModuleRef, Owner, PreferredPropletType, PropletSelector, Resources, TaskStatus } from '@propeller/events';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;
type Bigint = ColumnType<string | number, number, number>;

/**
 * The `tasks` table (migration `20261127T1600_create_tasks`): one row per task that exists (deleted
 * and archived tasks leave it). Written only by the scheduler's `tasks` projection; read by the API.
 * Columns are snake_case so the REST layer maps them one to one.
 */
export interface TasksTable {
  id: string;
  name: string;
  function_name: string;
  module: JSONColumnType<ModuleRef> | null;
  image_url: string | null;
  inputs: JSONColumnType<Array<string | number>>;
  cli_args: JSONColumnType<string[]>;
  env: JSONColumnType<Record<string, string>>;
  daemon: boolean;
  proplet_selector: JSONColumnType<PropletSelector>;
  preferred_proplet_type: PreferredPropletType;
  resource_requirements: JSONColumnType<Resources>;
  max_attempts: number;
  /** Per-attempt timeout in ms; null = none (daemons). */
  timeout_ms: Bigint | null;
  labels: JSONColumnType<Labels>;
  owner: JSONColumnType<Owner> | null;
  status: TaskStatus;
  /** The current attempt (1-based). */
  attempt: number;
  /** The proplet of the current (or last) attempt. */
  proplet_id: string | null;
  /** The wire id of the current (or last) attempt. */
  wire_id: string | null;
  /** The result as reported (any JSON); null until completed. */
  results: JSONColumnType<object> | null;
  error: string | null;
  /** `TaskFailed.reason` (`error`, `timeout`, ...). */
  failure_reason: string | null;
  /** Why the task waits, while pending and unschedulable. */
  unschedulable_reasons: JSONColumnType<string[]> | null;
  /** Why the current attempt went where it went (`TaskScheduled.explanation`). */
  explanation: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  scheduled_at: NullableTimestamp;
  running_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  /** The folded aggregate state, so the projection folds with the decider's own `evolve`. */
  state: JSONColumnType<object>;
  /** Stream sequence of the last event applied to the row. */
  last_seq: Bigint;
}

/** The `task_events` table: the timeline, one row per task event. */
export interface TaskEventsTable {
  /** Stream sequence of the event (primary key). */
  seq: Bigint;
  task_id: string;
  type: string;
  at: Timestamp;
  /** One line for people (`scheduled on rpi-1 (attempt 2)`). */
  summary: string;
}

/** The tables of the tasks read model, for typing a `Kysely` that reads them. */
export interface TasksTables {
  tasks: TasksTable;
  task_events: TaskEventsTable;
}
