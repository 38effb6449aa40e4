/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB> (or a transaction); these functions touch only `tasks` and `task_events` */
import type { Kysely, Selectable } from 'kysely';
import {
  InvalidError,
  NotFoundError,
  TaskStatusSchema,
  type Labels,
  type ModuleRef,
  type Owner,
  type PreferredPropletType,
  type PropletSelector,
  type Resources,
  type TaskStatus,
} from '@propeller/events';
import type { TasksTable, TasksTables } from './table';

/** Default page size of `listTasks`. */
export const TASKS_DEFAULT_LIMIT = 100;
/** Largest page size `listTasks` accepts. */
export const TASKS_MAX_LIMIT = 1000;
/** Statuses of a task that is not finished. */
export const UNFINISHED_TASK_STATUSES: readonly TaskStatus[] = ['created', 'pending', 'scheduled', 'running'];

const table = (db: Kysely<any>): Kysely<TasksTables> => db as Kysely<TasksTables>;

/** One task as the API reads it (domain casing; the API turns it into snake_case and adds upstream's numeric `state`). */
export interface TaskView {
  id: string;
  name: string;
  functionName: string;
  module: ModuleRef | null;
  imageUrl: string | null;
  inputs: Array<string | number>;
  cliArgs: string[];
  env: Record<string, string>;
  daemon: boolean;
  propletSelector: PropletSelector;
  preferredPropletType: PreferredPropletType;
  resourceRequirements: Resources;
  maxAttempts: number;
  /** `null` = no timeout. */
  timeoutMs: number | null;
  labels: Labels;
  owner: Owner | null;
  status: TaskStatus;
  attempt: number;
  propletId: string | null;
  wireId: string | null;
  /** Any JSON value as reported; `null` until completed. */
  results: unknown;
  error: string | null;
  failureReason: string | null;
  unschedulableReasons: string[] | null;
  explanation: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  scheduledAt: string | null;
  runningAt: string | null;
  finishedAt: string | null;
  /** Stream sequence of the last event applied (usable as an ETag and for read-your-writes). */
  seq: number;
}

/** One timeline entry of a task. */
export interface TaskTimelineEntry {
  seq: number;
  type: string;
  at: string;
  summary: string;
}

/** Filters and page of `listTasks`. */
export interface ListTasksQuery {
  /** Rows to skip (default 0). */
  offset?: number;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
  /** One status or several (any of them). */
  status?: TaskStatus | readonly TaskStatus[];
  /** Tasks whose current (or last) attempt is on this proplet. */
  propletId?: string;
}

/** A page of tasks, oldest first, with the number of rows matching the filters. */
export interface TaskPage {
  offset: number;
  limit: number;
  total: number;
  tasks: TaskView[];
}

const iso = (d: Date | string | null): string | null => (d === null ? null : d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** A row in domain casing. */
export function toTaskView(r: Selectable<TasksTable>): TaskView {
  return {
    id: r.id,
    name: r.name,
    functionName: r.function_name,
    module: r.module,
    imageUrl: r.image_url,
    inputs: r.inputs,
    cliArgs: r.cli_args,
    env: r.env,
    daemon: r.daemon,
    propletSelector: r.proplet_selector,
    preferredPropletType: r.preferred_proplet_type,
    resourceRequirements: r.resource_requirements,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms === null ? null : Number(r.timeout_ms),
    labels: r.labels,
    owner: r.owner,
    status: r.status,
    attempt: r.attempt,
    propletId: r.proplet_id,
    wireId: r.wire_id,
    results: r.results,
    error: r.error,
    failureReason: r.failure_reason,
    unschedulableReasons: r.unschedulable_reasons,
    explanation: r.explanation,
    createdAt: iso(r.created_at) as string,
    updatedAt: iso(r.updated_at) as string,
    startedAt: iso(r.started_at),
    scheduledAt: iso(r.scheduled_at),
    runningAt: iso(r.running_at),
    finishedAt: iso(r.finished_at),
    seq: Number(r.last_seq),
  };
}

function pageOf(q: ListTasksQuery): { offset: number; limit: number } {
  const offset = q.offset ?? 0;
  const limit = q.limit ?? TASKS_DEFAULT_LIMIT;
  if (!Number.isInteger(offset) || offset < 0) throw InvalidError.field('offset', offset, 'must be an integer >= 0');
  if (!Number.isInteger(limit) || limit < 1 || limit > TASKS_MAX_LIMIT) throw InvalidError.field('limit', limit, `must be an integer from 1 to ${TASKS_MAX_LIMIT}`);
  return { offset, limit };
}

function statusesOf(q: ListTasksQuery): TaskStatus[] | undefined {
  if (q.status === undefined) return undefined;
  const list = (typeof q.status === 'string' ? [q.status] : [...q.status]) as unknown[];
  for (const s of list) {
    if (!TaskStatusSchema.safeParse(s).success) throw InvalidError.field('status', s, `must be one of ${TaskStatusSchema.options.join(', ')}`);
  }
  return list as TaskStatus[];
}

/** A page of tasks (oldest first, then by id) with the total count; throws `InvalidError` naming a bad filter. */
export async function listTasks(db: Kysely<any>, q: ListTasksQuery = {}): Promise<TaskPage> {
  const { offset, limit } = pageOf(q);
  const statuses = statusesOf(q);
  if (q.propletId !== undefined && (typeof q.propletId !== 'string' || q.propletId === '')) throw InvalidError.field('propletId', q.propletId, 'must be a non-empty string');
  let base = table(db).selectFrom('tasks');
  if (statuses !== undefined) base = statuses.length === 0 ? base.where((eb) => eb.val(false)) : base.where('status', 'in', statuses);
  if (q.propletId !== undefined) base = base.where('proplet_id', '=', q.propletId);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('created_at').orderBy('id').offset(offset).limit(limit).execute(),
    base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { offset, limit, total: Number(count.n), tasks: rows.map(toTaskView) };
}

/** One task, or `undefined`. */
export async function getTask(db: Kysely<any>, id: string): Promise<TaskView | undefined> {
  const row = await table(db).selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : toTaskView(row);
}

/** Several tasks in one query, in the order of `ids` (`undefined` where a task has no row). */
export async function getTasks(db: Kysely<any>, ids: readonly string[]): Promise<Array<TaskView | undefined>> {
  if (ids.length === 0) return [];
  const rows = await table(db).selectFrom('tasks').selectAll().where('id', 'in', [...new Set(ids)]).execute();
  const byId = new Map(rows.map((r) => [r.id as string, r]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row === undefined ? undefined : toTaskView(row);
  });
}

/** One task, or throws `NotFoundError` (code `NotFound`). */
export async function getTaskOrThrow(db: Kysely<any>, id: string): Promise<TaskView> {
  const t = await getTask(db, id);
  if (t === undefined) throw new NotFoundError(`task ${id} does not exist`, { details: { taskId: id } });
  return t;
}

/** A task's timeline, oldest first; throws `NotFoundError` when the task has no row. */
export async function getTaskEvents(db: Kysely<any>, id: string): Promise<TaskTimelineEntry[]> {
  const rows = await table(db).selectFrom('task_events').select(['seq', 'type', 'at', 'summary']).where('task_id', '=', id).orderBy('seq').execute();
  if (rows.length === 0) await getTaskOrThrow(db, id);
  return rows.map((r) => ({ seq: Number(r.seq), type: r.type, at: iso(r.at) as string, summary: r.summary }));
}

/** Unfinished tasks (`scheduled` or `running`) whose current attempt is on the proplet. */
export async function countUnfinishedTasksOnProplet(db: Kysely<any>, propletId: string): Promise<number> {
  const r = await table(db)
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('proplet_id', '=', propletId)
    .where('status', 'in', ['scheduled', 'running'])
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
