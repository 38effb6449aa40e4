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
