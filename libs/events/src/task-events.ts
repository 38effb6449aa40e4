import { z } from 'zod';
import {
  AggregateIdSchema,
  AttemptSchema,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_TASK_TIMEOUT_MS,
  LabelsSchema,
  ModuleRefSchema,
  OwnerSchema,
  PreferredPropletTypeSchema,
  PropletSelectorSchema,
  ResourcesSchema,
  TaskInputSchema,
  TaskStatusSchema,
  TimestampSchema,
  type TypedEvent,
} from './common';

/**
 * Events of the Task aggregate (subject `<p>.events.task.<taskId>`), written by the scheduler only.
 * The task id is the envelope's `aggregateId`, so it is not repeated in `data`.
 */

/** Task ids are UUIDs (made at the edge: v4, UUIDv5 of an `Idempotency-Key`, or a `Task` CR's uid); wire ids of attempts are UUIDv5 names under them. */
export const TaskIdSchema = z.uuid();

/** Wire id of an attempt: `wireIdFor(taskId, attempt)` of `@propeller/mqtt-protocol` (PROTOCOL.md "Wire ids fence attempts"). */
export const WireIdSchema = z.string().min(1);

const taskName = z.string().min(1).max(253);
const functionName = z.string().min(1).max(253);
const imageUrl = z.string().min(1).max(2048);
const timeoutMs = z.number().int().positive();
const maxAttempts = z.number().int().min(1).max(100);
/** What a task runs and where it may run: the fields that `TaskCreated` sets and `TaskUpdated` changes. */
const taskSpecFields = {
  name: taskName,
  /** The Wasm export to call (WAMR devices always call `main`, whatever this says). */
  functionName,
  /** The module, stored by content; `null` until uploaded when the task names none yet. */
  module: ModuleRefSchema.nullable(),
  /** An OCI image reference the proplet fetches through `registry/*` instead of a stored module. */
  imageUrl: imageUrl.nullable(),
  inputs: z.array(TaskInputSchema),
  cliArgs: z.array(z.string()),
  env: z.record(z.string().min(1), z.string()),
  /** A daemon keeps running after a success result. */
  daemon: z.boolean(),
  propletSelector: PropletSelectorSchema,
  preferredPropletType: PreferredPropletTypeSchema,
  resourceRequirements: ResourcesSchema,
  maxAttempts,
  /** Per-attempt timeout; `null` = none (the default for daemons). */
  timeoutMs: timeoutMs.nullable(),
  labels: LabelsSchema,
};

const notBothSources = (d: { module?: unknown; imageUrl?: unknown }): boolean =>
  !(d.module !== undefined && d.module !== null && d.imageUrl !== undefined && d.imageUrl !== null);
const notBothSourcesRule = { message: 'set module or imageUrl, not both', path: ['imageUrl'] };

const taskSpecShape = {
  name: taskName,
  functionName: functionName.optional(),
  module: ModuleRefSchema.nullable().default(null),
  imageUrl: imageUrl.nullable().default(null),
  inputs: z.array(TaskInputSchema).default([]),
  cliArgs: z.array(z.string()).default([]),
  env: taskSpecFields.env.default({}),
  daemon: z.boolean().default(false),
  propletSelector: PropletSelectorSchema.default({}),
  preferredPropletType: PreferredPropletTypeSchema.default('any'),
  resourceRequirements: ResourcesSchema.default({}),
  maxAttempts: maxAttempts.default(DEFAULT_MAX_ATTEMPTS),
  timeoutMs: timeoutMs.nullable().optional(),
  labels: LabelsSchema.default({}),
  /** The `Task` CR this task was created from (the k8s-agent writes its status back). */
  owner: OwnerSchema.optional(),
};

// Defaults that depend on another field (zod field defaults cannot see siblings).
function applySpecDefaults<T extends { name: string; functionName?: string | undefined; daemon: boolean; timeoutMs?: number | null | undefined }>(
  d: T,
): Omit<T, 'functionName' | 'timeoutMs'> & { functionName: string; timeoutMs: number | null } {
  // A copy loop, not `{ ...rest }` of a rest: it runs for every `TaskCreated` read or written, and is ~7x cheaper.
  // Same keys in the same order: the others as zod gave them, then `functionName`, `timeoutMs`.
  const out: Record<string, unknown> = {};
  for (const k in d) if (k !== 'functionName' && k !== 'timeoutMs') out[k] = d[k];
  out.functionName = d.functionName ?? d.name;
  const t = d.timeoutMs;
  out.timeoutMs = t === undefined ? (d.daemon ? null : DEFAULT_TASK_TIMEOUT_MS) : t;
  return out as Omit<T, 'functionName' | 'timeoutMs'> & { functionName: string; timeoutMs: number | null };
}

/**
 * The spec of a new task with its defaults: `functionName` = `name`, `module`/`imageUrl` null,
 * `inputs`/`cliArgs` [], `env`/`labels`/`propletSelector`/`resourceRequirements` {}, `daemon` false,
 * `preferredPropletType` `any`, `maxAttempts` 3, `timeoutMs` 10 min (null for daemons).
 */
export const TaskSpecSchema = z.object(taskSpecShape).refine(notBothSources, notBothSourcesRule).transform(applySpecDefaults);
/** A task spec with its defaults applied. */
export type TaskSpec = z.output<typeof TaskSpecSchema>;
/** What a caller may send for a new task (defaults not yet applied). */
export type TaskSpecInput = z.input<typeof TaskSpecSchema>;

/**
 * `task.create`'s data: `taskId`, `start` and the spec with its defaults (as `TaskSpecSchema`). One object
 * rather than `z.intersection(z.object({ taskId, start }), TaskSpecSchema)`: zod's intersection parses both
 * sides and deep-merges their outputs, ~15x the cost of this parse, for the same result.
 */
export const CreateTaskDataSchema = z
  .object({ taskId: TaskIdSchema, start: z.boolean().optional(), ...taskSpecShape })
  .refine(notBothSources, notBothSourcesRule)
  .transform(applySpecDefaults);

/**
 * A task exists (status `created`); it runs once started. Missing fields take `TaskSpecSchema`'s defaults.
 * `startedAt` is set when the create asked to start too (`task.create` with `start: true`): the task is
 * `pending` at once, as after a `TaskStarted`, with one event instead of two.
 */
export const TaskCreatedDataSchema = z
  .object({ ...taskSpecShape, createdAt: TimestampSchema, startedAt: TimestampSchema.optional() })
  .refine(notBothSources, notBothSourcesRule)
  .transform(applySpecDefaults);
export type TaskCreatedData = z.output<typeof TaskCreatedDataSchema>;
export type TaskCreated = TypedEvent<'TaskCreated', TaskCreatedData>;

const taskPatchShape = {
  name: taskSpecFields.name.optional(),
  functionName: taskSpecFields.functionName.optional(),
  module: taskSpecFields.module.optional(),
  imageUrl: taskSpecFields.imageUrl.optional(),
  inputs: taskSpecFields.inputs.optional(),
  cliArgs: taskSpecFields.cliArgs.optional(),
  env: taskSpecFields.env.optional(),
  daemon: taskSpecFields.daemon.optional(),
  propletSelector: taskSpecFields.propletSelector.optional(),
  preferredPropletType: taskSpecFields.preferredPropletType.optional(),
  resourceRequirements: taskSpecFields.resourceRequirements.optional(),
  maxAttempts: taskSpecFields.maxAttempts.optional(),
  timeoutMs: taskSpecFields.timeoutMs.optional(),
  labels: taskSpecFields.labels.optional(),
};
const changesSomething = (d: object): boolean => Object.keys(d).some((k) => k !== 'updatedAt' && k !== 'taskId');

/** A change to a task that has not been started yet; each present field replaces the old value. */
export const TaskPatchSchema = z
  .object(taskPatchShape)
  .refine(notBothSources, notBothSourcesRule)
  .refine(changesSomething, { message: 'must change at least one field' });
export type TaskPatch = z.infer<typeof TaskPatchSchema>;

/** The task was changed while not started. */
export const TaskUpdatedDataSchema = z
  .object({ ...taskPatchShape, updatedAt: TimestampSchema })
  .refine(notBothSources, notBothSourcesRule)
  .refine(changesSomething, { message: 'must change at least one field' });
export type TaskUpdatedData = z.infer<typeof TaskUpdatedDataSchema>;
export type TaskUpdated = TypedEvent<'TaskUpdated', TaskUpdatedData>;

/** Start requested: the task is `pending` and waits for placement. */
export const TaskStartedDataSchema = z.object({ startedAt: TimestampSchema });
export type TaskStartedData = z.infer<typeof TaskStartedDataSchema>;
export type TaskStarted = TypedEvent<'TaskStarted', TaskStartedData>;

/** Explanations are bounded (ARCHITECTURE.md "Scheduling"). */
export const MAX_EXPLANATION_CHARS = 4096;

/** The scheduler placed an attempt on a proplet (`scheduled`). */
export const TaskScheduledDataSchema = z.object({
  propletId: AggregateIdSchema,
  attempt: AttemptSchema,
  wireId: WireIdSchema,
  /** Why this proplet: counted per rule, at most 4 KB. */
  explanation: z.string().max(MAX_EXPLANATION_CHARS),
  scheduledAt: TimestampSchema,
});
export type TaskScheduledData = z.infer<typeof TaskScheduledDataSchema>;
export type TaskScheduled = TypedEvent<'TaskScheduled', TaskScheduledData>;

/** The broker accepted the attempt's start message. */
export const TaskDispatchedDataSchema = z.object({
  propletId: AggregateIdSchema,
  attempt: AttemptSchema,
  wireId: WireIdSchema,
  dispatchedAt: TimestampSchema,
});
export type TaskDispatchedData = z.infer<typeof TaskDispatchedDataSchema>;
export type TaskDispatched = TypedEvent<'TaskDispatched', TaskDispatchedData>;

/** The attempt runs: the proplet said so (`task_started`), or, for upstream proplets, the start was dispatched. */
export const TaskRunningDataSchema = z.object({
  propletId: AggregateIdSchema,
  attempt: AttemptSchema,
  wireId: WireIdSchema,
  evidence: z.enum(['taskStarted', 'dispatched']),
  runningAt: TimestampSchema,
});
export type TaskRunningData = z.infer<typeof TaskRunningDataSchema>;
export type TaskRunning = TypedEvent<'TaskRunning', TaskRunningData>;

/** The current attempt succeeded. `results` is stored unchanged (usually a string, any JSON value). */
export const TaskCompletedDataSchema = z.object({
  results: z.json(),
  attempt: AttemptSchema,
  wireId: WireIdSchema,
  propletId: AggregateIdSchema.optional(),
  completedAt: TimestampSchema,
});
export type TaskCompletedData = z.infer<typeof TaskCompletedDataSchema>;
export type TaskCompleted = TypedEvent<'TaskCompleted', TaskCompletedData>;

/**
 * Why a task failed: `error` (the proplet reported one), `timeout`, `attemptsExhausted` (evacuated
 * past `maxAttempts`), `dispatchFailed`, `moduleUnavailable`, `propletLost` (its proplet left and
 * the task could not move).
 */
export const TaskFailureReasonSchema = z.enum(['error', 'timeout', 'attemptsExhausted', 'dispatchFailed', 'moduleUnavailable', 'propletLost']);
export type TaskFailureReason = z.infer<typeof TaskFailureReasonSchema>;

/** The task failed for good (terminal). */
export const TaskFailedDataSchema = z.object({
  error: z.string().min(1),
  reason: TaskFailureReasonSchema,
  attempt: AttemptSchema,
  /** Absent when no attempt was on the wire (e.g. the module was unavailable). */
  wireId: WireIdSchema.optional(),
  propletId: AggregateIdSchema.optional(),
  failedAt: TimestampSchema,
});
export type TaskFailedData = z.infer<typeof TaskFailedDataSchema>;
export type TaskFailed = TypedEvent<'TaskFailed', TaskFailedData>;

/** The task was stopped (terminal); if an attempt was on a proplet, the gateway sends it a stop for `wireId`. */
export const TaskStoppedDataSchema = z.object({
  reason: z.string().optional(),
  propletId: AggregateIdSchema.optional(),
  attempt: AttemptSchema.optional(),
  wireId: WireIdSchema.optional(),
  stoppedAt: TimestampSchema,
});
export type TaskStoppedData = z.infer<typeof TaskStoppedDataSchema>;
export type TaskStopped = TypedEvent<'TaskStopped', TaskStoppedData>;

/**
 * The attempt on `fromPropletId` was abandoned and the task is `pending` again with attempt + 1.
 * `attempt`/`wireId` name the abandoned attempt, so the gateway can stop it if that proplet returns.
 */
export const TaskEvacuatedDataSchema = z.object({
  fromPropletId: AggregateIdSchema,
  attempt: AttemptSchema,
  wireId: WireIdSchema,
  reason: z.string().min(1),
  evacuatedAt: TimestampSchema,
});
export type TaskEvacuatedData = z.infer<typeof TaskEvacuatedDataSchema>;
export type TaskEvacuated = TypedEvent<'TaskEvacuated', TaskEvacuatedData>;

/** No proplet fits; appended only when the set of reasons changes. */
export const TaskUnschedulableDataSchema = z.object({
  reasons: z.array(z.string().min(1)).min(1),
  /** The attempt waiting for a place. */
  attempt: AttemptSchema,
  unschedulableAt: TimestampSchema,
});
export type TaskUnschedulableData = z.infer<typeof TaskUnschedulableDataSchema>;
export type TaskUnschedulable = TypedEvent<'TaskUnschedulable', TaskUnschedulableData>;

/** Why a result changed nothing. */
export const DiscardReasonSchema = z.enum(['staleAttempt', 'duplicate', 'afterTerminal', 'notRunning']);

/** A result arrived that is not the current attempt's (or came twice): recorded, changes nothing. */
export const TaskResultDiscardedDataSchema = z.object({
  wireId: WireIdSchema,
  /** The attempt the wire id belongs to. */
  attempt: AttemptSchema,
  reason: DiscardReasonSchema,
  propletId: AggregateIdSchema.optional(),
  /** The result's error, if it carried one. */
  error: z.string().optional(),
  discardedAt: TimestampSchema,
});
export type TaskResultDiscardedData = z.infer<typeof TaskResultDiscardedDataSchema>;
export type TaskResultDiscarded = TypedEvent<'TaskResultDiscarded', TaskResultDiscardedData>;

const terminalStatus = TaskStatusSchema.extract(['completed', 'failed', 'stopped']);

/** A terminal task passed `TASK_RETENTION` (7d): its rows leave the read models and its subject is purged. */
export const TaskArchivedDataSchema = z.object({ status: terminalStatus, archivedAt: TimestampSchema });
export type TaskArchivedData = z.infer<typeof TaskArchivedDataSchema>;
export type TaskArchived = TypedEvent<'TaskArchived', TaskArchivedData>;

/** An operator deleted the task (`task.delete`); its rows leave the read models, an attempt on a proplet is stopped. */
export const TaskDeletedDataSchema = z.object({
  /** Status at deletion. */
  status: TaskStatusSchema,
  propletId: AggregateIdSchema.optional(),
  wireId: WireIdSchema.optional(),
  deletedAt: TimestampSchema,
});
export type TaskDeletedData = z.infer<typeof TaskDeletedDataSchema>;
export type TaskDeleted = TypedEvent<'TaskDeleted', TaskDeletedData>;

/** Every Task event, discriminated on `type`. */
export type TaskEvent =
  | TaskCreated
  | TaskUpdated
  | TaskStarted
  | TaskScheduled
  | TaskDispatched
  | TaskRunning
  | TaskCompleted
  | TaskFailed
  | TaskStopped
  | TaskEvacuated
  | TaskUnschedulable
  | TaskResultDiscarded
  | TaskArchived
  | TaskDeleted;
