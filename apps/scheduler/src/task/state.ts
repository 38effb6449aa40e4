import type { JsonValue, TaskFailureReason, TaskSpec } from './types';

/** What every existing task carries, whatever its status. */
export interface TaskBase {
  spec: TaskSpec;
  createdAt: string;
  /** The current attempt (1-based); raised by timeouts and evacuations. */
  attempt: number;
  /** Attempts that count against `maxAttempts` (timeouts); evacuations raise `attempt` only. */
  attemptsUsed: number;
  startedAt: string | undefined;
  /** The last reasons recorded by `TaskUnschedulable` for the current attempt. */
  unschedulableReasons: readonly string[] | undefined;
  /** Wire ids whose result was already recorded as discarded (a redelivery records nothing more). */
  discardedWireIds: readonly string[];
}

/** Where the current attempt was placed. */
export interface Placement {
  propletId: string;
  wireId: string;
  scheduledAt: string;
}

export type CreatedTask = TaskBase & { status: 'created' };
/** Waiting for placement (`TaskStarted` or a `TaskCreated` with `startedAt`, an evacuation, a timeout with attempts left). */
export type PendingTask = TaskBase & { status: 'pending'; pendingSince: string };
export type ScheduledTask = TaskBase & { status: 'scheduled' } & Placement;
export type RunningTask = TaskBase & { status: 'running'; runningAt: string; evidence: 'taskStarted' | 'dispatched' } & Placement;
export type CompletedTask = TaskBase & { status: 'completed'; propletId: string | undefined; wireId: string; results: JsonValue; finishedAt: string };
export type FailedTask = TaskBase & {
  status: 'failed';
  propletId: string | undefined;
  wireId: string | undefined;
  error: string;
  reason: TaskFailureReason;
  finishedAt: string;
};
export type StoppedTask = TaskBase & { status: 'stopped'; propletId: string | undefined; wireId: string | undefined; reason: string | undefined; finishedAt: string };

/** A task that exists (not absent, deleted or archived). */
export type LiveTask = CreatedTask | PendingTask | ScheduledTask | RunningTask | CompletedTask | FailedTask | StoppedTask;

/**
 * State of the Task aggregate, a discriminated union on `status` (STYLE.md rule 7): `absent` (never
 * created), the seven domain statuses, and two tombstones (`deleted`, `archived`) that refuse
 * everything, so a deleted id is never reused by a retried create.
 */
export type TaskState = { status: 'absent' } | LiveTask | { status: 'deleted'; deletedAt: string } | { status: 'archived'; archivedAt: string };

/** Statuses in which an attempt is on (or on its way to) a proplet. */
export const PLACED_STATUSES = ['scheduled', 'running'] as const;
/** Statuses that end a task. */
export const FINISHED_STATUSES = ['completed', 'failed', 'stopped'] as const;

/** True when the task is placed on a proplet (`scheduled` or `running`). */
export const isPlaced = (s: TaskState): s is ScheduledTask | RunningTask => s.status === 'scheduled' || s.status === 'running';
/** True when the task is terminal. */
export const isFinished = (s: TaskState): s is CompletedTask | FailedTask | StoppedTask =>
  s.status === 'completed' || s.status === 'failed' || s.status === 'stopped';
/** True for every state of an existing task. */
export const isLive = (s: TaskState): s is LiveTask => s.status !== 'absent' && s.status !== 'deleted' && s.status !== 'archived';
