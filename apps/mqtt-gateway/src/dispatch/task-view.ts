import type { ModuleRef } from '@propeller/events';

/** A task input as stored (strings or numbers; shaped per dialect at dispatch). */
export type TaskInput = string | number;

/**
 * What dispatch needs to know about one task, folded from its events: the spec a start is shaped from
 * and where its attempts are. Pure; the scheduler stays the only writer and judge of the lifecycle —
 * this view only answers "is the attempt of this `TaskScheduled` still the live one?".
 */
export interface TaskView {
  taskId: string;
  name: string;
  functionName: string;
  module: ModuleRef | null;
  imageUrl: string | null;
  inputs: TaskInput[];
  cliArgs: string[];
  env: Record<string, string>;
  daemon: boolean;
  /** The attempt placed last and its proplet; `null` before the first `TaskScheduled`. */
  current: { attempt: number; wireId: string; propletId: string } | null;
  /** The current attempt was left (evacuated, stopped, finished): no start should go out for it any more. */
  currentLeft: boolean;
  /** Terminal or deleted. */
  finished: boolean;
}

/** The subset of an envelope the fold reads. */
export interface TaskEventLike {
  type: string;
  aggregateId: string;
  data: unknown;
}

type Data = Record<string, unknown>;

const SPEC_KEYS = ['name', 'functionName', 'module', 'imageUrl', 'inputs', 'cliArgs', 'env', 'daemon'] as const;

/** Folds one task event into the view (`undefined` before `TaskCreated`); unknown types change nothing. */
export function evolveTaskView(view: TaskView | undefined, event: TaskEventLike): TaskView | undefined {
  const d = (event.data ?? {}) as Data;
  if (event.type === 'TaskCreated') {
    return {
      taskId: event.aggregateId,
      name: String(d['name']),
      functionName: typeof d['functionName'] === 'string' ? d['functionName'] : String(d['name']),
      module: (d['module'] as ModuleRef | null | undefined) ?? null,
      imageUrl: (d['imageUrl'] as string | null | undefined) ?? null,
      inputs: (d['inputs'] as TaskInput[] | undefined) ?? [],
      cliArgs: (d['cliArgs'] as string[] | undefined) ?? [],
      env: (d['env'] as Record<string, string> | undefined) ?? {},
      daemon: d['daemon'] === true,
      current: null,
      currentLeft: false,
      finished: false,
    };
  }
  if (view === undefined) return undefined;
  switch (event.type) {
    case 'TaskUpdated': {
      const next: TaskView = { ...view };
      for (const k of SPEC_KEYS) if (d[k] !== undefined) (next as unknown as Data)[k] = d[k];
      return next;
    }
    case 'TaskScheduled':
      return { ...view, current: { attempt: Number(d['attempt']), wireId: String(d['wireId']), propletId: String(d['propletId']) }, currentLeft: false };
    case 'TaskEvacuated':
      return { ...view, currentLeft: true };
    case 'TaskCompleted':
      // A daemon's success keeps it running on its proplet; the scheduler writes no TaskCompleted for it.
      return { ...view, currentLeft: true, finished: true };
    case 'TaskFailed':
    case 'TaskStopped':
    case 'TaskDeleted':
    case 'TaskArchived':
      return { ...view, currentLeft: true, finished: true };
    default:
      return view;
  }
}

/** Folds a task's events in order. */
export function foldTaskView(events: readonly TaskEventLike[]): TaskView | undefined {
  return events.reduce<TaskView | undefined>(evolveTaskView, undefined);
}

/** True when a start for `wireId` should still go out: the task lives and that attempt is its current, not yet left. */
export function startStillWanted(view: TaskView | undefined, wireId: string): boolean {
  return view !== undefined && !view.finished && !view.currentLeft && view.current?.wireId === wireId;
}

/** Task event types `evolveTaskView` folds (others change no view). */
export const VIEW_EVENT_TYPES: ReadonlySet<string> = new Set([
  'TaskCreated',
  'TaskUpdated',
  'TaskScheduled',
  'TaskEvacuated',
  'TaskFailed',
  'TaskStopped',
  'TaskDeleted',
  'TaskArchived',
]);
/** Types that only end a view (`TaskViews.forget`, by the id in the subject; the event, with its results, is not parsed). */
export const VIEW_END_TYPES: ReadonlySet<string> = new Set(['TaskCompleted']);
/** Types read for their trace only: the REST request that started a task (`TaskStarted`), or the placement's refusal. */
export const TRACE_EVENT_TYPES: ReadonlySet<string> = new Set(['TaskStarted', 'TaskUnschedulable']);

/** Default bound of `TaskViews` (live tasks held; about 300 bytes each plus their inputs and env). */
export const DEFAULT_TASK_VIEWS = 100_000;

/** A view with the latest trace of its task's history. */
export interface HeldTaskView {
  view: TaskView;
  /** The latest non-null `traceparent` among the events folded. */
  traceparent: string | null;
}

/**
 * The views of the live tasks, folded from the task events as the follower reads them, so a `TaskScheduled`
 * does not have to read its task's history back from the stream. Finished tasks leave at once; past
 * `capacity` the oldest view is dropped. A task it does not hold (dropped, finished, or never seen because
 * the follower started later) is `undefined`: the caller reads the history instead.
 */
export class TaskViews {
  readonly #views = new Map<string, HeldTaskView>();

  constructor(readonly capacity = DEFAULT_TASK_VIEWS) {}

  get size(): number {
    return this.#views.size;
  }

  get(taskId: string): HeldTaskView | undefined {
    return this.#views.get(taskId);
  }

  /** Lets a task go that finished (`TaskCompleted`), without reading the event: its id is in the subject. */
  forget(taskId: string): void {
    this.#views.delete(taskId);
  }

  /** Applies one envelope-like event (with its `traceparent`); types that change no view only refresh the trace. */
  apply(event: TaskEventLike & { traceparent?: string | null }): void {
    const id = event.aggregateId;
    const held = this.#views.get(id);
    if (event.type === 'TaskCreated') {
      const view = evolveTaskView(undefined, event) as TaskView;
      this.#views.delete(id);
      this.#views.set(id, { view, traceparent: event.traceparent ?? null });
      if (this.#views.size > this.capacity) this.#views.delete(this.#views.keys().next().value as string);
      return;
    }
    if (held === undefined) return;
    const view = VIEW_EVENT_TYPES.has(event.type) ? evolveTaskView(held.view, event) : held.view;
    if (view === undefined || view.finished) {
      this.#views.delete(id);
      return;
    }
    held.view = view;
    if (event.traceparent) held.traceparent = event.traceparent;
  }
}
