import { z } from 'zod';
import { AggregateIdSchema, AttemptSchema, FencingTokenSchema, PropletHealthSchema, TimestampSchema } from './common';
import type { AggregateName } from './envelope';
import { ERROR_CODES, InvalidError, type PropellerError, type WireError, fromWireError, toWireError } from './errors';
import type { NatsNames } from './names';
import {
  HealthEvidenceSchema,
  PropletOverridesSchema,
  PropletRegisteredDataSchema,
  PropletUpdatedDataSchema,
} from './proplet-events';
import { PauseSiteEvacuationSchema, SiteEvacuationResumedDataSchema } from './site-events';
import { CreateTaskDataSchema, MAX_EXPLANATION_CHARS, TaskIdSchema, TaskPatchSchema, WireIdSchema } from './task-events';
import { parseOrThrow } from './validation';

/**
 * Commands are NATS request/reply on `<p>.commands.<aggregate>.<name>`, served in a queue group by
 * the aggregate's owner. A request is `{meta, data}`; `data` names the aggregate instance
 * (`propletId`, `site` or `taskId`). The reply carries the appended sequences or a typed error.
 */

/** Metadata of every command request. `issuedAt` is the clock the decider uses (STYLE.md rule 8). */
export const CommandMetaSchema = z.object({
  correlationId: z.string().min(1),
  causationId: z.string().min(1).nullable().optional(),
  traceparent: z.string().min(1).nullable().optional(),
  /** Lease revision of the singleton that sends the command; a stale one is refused (`NotLeader`). */
  fencingToken: FencingTokenSchema.optional(),
  issuedAt: TimestampSchema,
});
export type CommandMeta = z.infer<typeof CommandMetaSchema>;

const propletId = AggregateIdSchema;
const atLeastOne = (keys: readonly string[]) => (d: Record<string, unknown>) => keys.some((k) => d[k] !== undefined);

// ---- proplet.* (served by the registry) ----

/**
 * What made the sender register a proplet: an MQTT `create` (also from k8s pods), a heartbeat from an
 * unknown proplet, or an operator (pre-registration from a `Proplet` CR or the API). Only `create`
 * and `operator` revive a deregistered proplet.
 */
export const RegistrationOriginSchema = z.enum(['create', 'heartbeat', 'operator']);
export type RegistrationOrigin = z.infer<typeof RegistrationOriginSchema>;

/** `proplet.register`: a proplet announced itself. Defaults: `origin` `create`; labels, capacity, metadata `{}`. */
export const RegisterPropletSchema = PropletRegisteredDataSchema.omit({ registeredAt: true }).extend({
  propletId,
  origin: RegistrationOriginSchema.default('create'),
  labels: PropletRegisteredDataSchema.shape.labels.default({}),
  capacity: PropletRegisteredDataSchema.shape.capacity.default({}),
  metadata: PropletRegisteredDataSchema.shape.metadata.default({}),
});

const updatableKeys = ['type', 'deviceType', 'capabilities', 'labels', 'capacity', 'maxTasks', 'dialect', 'channel', 'metadata', 'owner', 'extensionVersion'] as const;
/** `proplet.update`: device-reported changes of a known proplet; at least one field. */
export const UpdatePropletSchema = z
  .object({ propletId, ...PropletUpdatedDataSchema.shape })
  .omit({ updatedAt: true })
  .refine(atLeastOne(updatableKeys), { message: `must change at least one of ${updatableKeys.join(', ')}` });

const overrideKeys = ['labels', 'capacity', 'deviceType', 'capabilities'] as const;
/** `proplet.label`: operator overrides (`null` clears one); at least one field. */
export const LabelPropletSchema = PropletOverridesSchema.extend({ propletId }).refine(atLeastOne(overrideKeys), {
  message: `must set at least one of ${overrideKeys.join(', ')}`,
});

/** `proplet.cordon`: take no new work. */
export const CordonPropletSchema = z.object({ propletId, reason: z.string().optional() });
/** `proplet.uncordon`: take new work again. */
export const UncordonPropletSchema = z.object({ propletId });
/** `proplet.changeHealth`: the health judge's verdict; needs `meta.fencingToken`. */
export const ChangePropletHealthSchema = z.object({
  propletId,
  to: PropletHealthSchema,
  reason: z.string().min(1),
  evidence: HealthEvidenceSchema,
});
/** `proplet.deregister`: the proplet leaves (pod deleted, CR deleted, operator). */
export const DeregisterPropletSchema = z.object({ propletId, reason: z.string().min(1) });

// ---- site.* (served by the registry) ----

/** `site.resumeEvacuation`: an operator or the breaker window resumes evacuation. */
export const ResumeSiteEvacuationSchema = SiteEvacuationResumedDataSchema.omit({ resumedAt: true });

// ---- task.* (served by the scheduler) ----

const taskId = TaskIdSchema;

/**
 * `task.create`: a new task; `taskId` is made at the edge (UUIDv5 of an `Idempotency-Key` or a CR uid).
 * Defaults as `TaskSpecSchema`. `start: true` also starts it (`POST /tasks` with `"start": true`), so one
 * command does what `task.create` + `task.start` do.
 */
export const CreateTaskSchema = CreateTaskDataSchema;
/** `task.update`: change a task that has not been started. */
export const UpdateTaskSchema = z.intersection(z.object({ taskId }), TaskPatchSchema);
/** `task.start`: request a run (→ `pending`). */
export const StartTaskSchema = z.object({ taskId });
/** `task.stop`: stop the task wherever it is (terminal). */
export const StopTaskSchema = z.object({ taskId, reason: z.string().optional() });
/** `task.delete`: remove the task (stopping an attempt on a proplet). */
export const DeleteTaskSchema = z.object({ taskId });
/** `task.schedule`: the placement loop chose a proplet for `attempt`; needs `meta.fencingToken`. The decider derives the wire id (`wireIdFor` of `@propeller/mqtt-protocol`). */
export const ScheduleTaskSchema = z.object({ taskId, propletId, attempt: AttemptSchema, explanation: z.string().max(MAX_EXPLANATION_CHARS) });
/** `task.recordUnschedulable`: no proplet fits `attempt`; needs `meta.fencingToken`. */
export const RecordTaskUnschedulableSchema = z.object({ taskId, attempt: AttemptSchema, reasons: z.array(z.string().min(1)).min(1) });
/** `task.recordDispatched`: the broker accepted the start of `wireId`. */
export const RecordTaskDispatchedSchema = z.object({ taskId, wireId: WireIdSchema, propletId });
/** `task.recordStarted`: the proplet reported `task_started` for `wireId`. */
export const RecordTaskStartedSchema = z.object({ taskId, wireId: WireIdSchema, propletId, attempt: AttemptSchema.optional() });
/** `task.recordResult`: a result for `wireId`; a non-empty `error` means failure. `results` is any JSON. */
export const RecordTaskResultSchema = z.object({
  taskId,
  wireId: WireIdSchema,
  propletId: propletId.optional(),
  results: z.json().default(null),
  error: z.string().optional(),
});
/** `task.recordTimeout`: `attempt` ran past `timeoutMs`; needs `meta.fencingToken`. */
export const RecordTaskTimeoutSchema = z.object({ taskId, attempt: AttemptSchema });
/** `task.evacuate`: move the task off `fromPropletId` back to `pending` (attempt + 1). */
export const EvacuateTaskSchema = z.object({ taskId, fromPropletId: propletId, reason: z.string().min(1) });
/** `task.archive`: a terminal task passed `TASK_RETENTION`. */
export const ArchiveTaskSchema = z.object({ taskId });

/** What the catalog knows about one command. */
export interface CommandDefinition<A extends AggregateName = AggregateName, N extends string = string, S extends z.ZodType = z.ZodType> {
  readonly aggregate: A;
  /** The subject token: `<p>.commands.<aggregate>.<name>`. */
  readonly name: N;
  readonly dataSchema: S;
  /** The `data` field that holds the aggregate id. */
  readonly idField: string;
  /** Sent only by a lease-holding singleton: `meta.fencingToken` is required. */
  readonly fenced: boolean;
  /**
   * Served first by the aggregate owner's lease holder on `<p>.leader.<aggregate>.<name>` (the scheduler
   * places a task inside the commands that start it); `sendCommand` asks there first and falls back to the
   * queue group when no leader answers (ADR 0025).
   */
  readonly leader: boolean;
}

const cmd = <A extends AggregateName, N extends string, S extends z.ZodType>(
  aggregate: A,
  name: N,
  dataSchema: S,
  flags: { fenced?: boolean; leader?: boolean } = {},
): CommandDefinition<A, N, S> => ({
  aggregate,
  name,
  dataSchema,
  idField: aggregate === 'proplet' ? 'propletId' : aggregate === 'task' ? 'taskId' : 'site',
  fenced: flags.fenced ?? false,
  leader: flags.leader ?? false,
});

/** The runtime command catalog, keyed by `<aggregate>.<name>`. */
export const COMMAND_CATALOG = {
  'proplet.register': cmd('proplet', 'register', RegisterPropletSchema),
  'proplet.update': cmd('proplet', 'update', UpdatePropletSchema),
  'proplet.label': cmd('proplet', 'label', LabelPropletSchema),
  'proplet.cordon': cmd('proplet', 'cordon', CordonPropletSchema),
  'proplet.uncordon': cmd('proplet', 'uncordon', UncordonPropletSchema),
  'proplet.changeHealth': cmd('proplet', 'changeHealth', ChangePropletHealthSchema, { fenced: true }),
  'proplet.deregister': cmd('proplet', 'deregister', DeregisterPropletSchema),
  'site.pauseEvacuation': cmd('site', 'pauseEvacuation', PauseSiteEvacuationSchema, { fenced: true }),
  'site.resumeEvacuation': cmd('site', 'resumeEvacuation', ResumeSiteEvacuationSchema),
  'task.create': cmd('task', 'create', CreateTaskSchema, { leader: true }),
  'task.update': cmd('task', 'update', UpdateTaskSchema),
  'task.start': cmd('task', 'start', StartTaskSchema, { leader: true }),
  'task.stop': cmd('task', 'stop', StopTaskSchema),
  'task.delete': cmd('task', 'delete', DeleteTaskSchema),
  'task.schedule': cmd('task', 'schedule', ScheduleTaskSchema, { fenced: true }),
  'task.recordUnschedulable': cmd('task', 'recordUnschedulable', RecordTaskUnschedulableSchema, { fenced: true }),
  'task.recordDispatched': cmd('task', 'recordDispatched', RecordTaskDispatchedSchema),
  'task.recordStarted': cmd('task', 'recordStarted', RecordTaskStartedSchema),
  'task.recordResult': cmd('task', 'recordResult', RecordTaskResultSchema),
  'task.recordTimeout': cmd('task', 'recordTimeout', RecordTaskTimeoutSchema, { fenced: true }),
  'task.evacuate': cmd('task', 'evacuate', EvacuateTaskSchema),
  'task.archive': cmd('task', 'archive', ArchiveTaskSchema),
} as const;

/** Every command name, `<aggregate>.<name>`. */
export type CommandName = keyof typeof COMMAND_CATALOG;

/** Command names by their imperative name (STYLE.md rule 6), e.g. `COMMAND_NAMES.RegisterProplet === 'proplet.register'`. */
export const COMMAND_NAMES = {
  RegisterProplet: 'proplet.register',
  UpdateProplet: 'proplet.update',
  LabelProplet: 'proplet.label',
  CordonProplet: 'proplet.cordon',
  UncordonProplet: 'proplet.uncordon',
  ChangePropletHealth: 'proplet.changeHealth',
  DeregisterProplet: 'proplet.deregister',
  PauseSiteEvacuation: 'site.pauseEvacuation',
  ResumeSiteEvacuation: 'site.resumeEvacuation',
  CreateTask: 'task.create',
  UpdateTask: 'task.update',
  StartTask: 'task.start',
  StopTask: 'task.stop',
  DeleteTask: 'task.delete',
  ScheduleTask: 'task.schedule',
  RecordTaskUnschedulable: 'task.recordUnschedulable',
  RecordTaskDispatched: 'task.recordDispatched',
  RecordTaskStarted: 'task.recordStarted',
  RecordTaskResult: 'task.recordResult',
  RecordTaskTimeout: 'task.recordTimeout',
  EvacuateTask: 'task.evacuate',
  ArchiveTask: 'task.archive',
} as const satisfies Record<string, CommandName>;

// Compile-time guard: every catalog entry has an imperative name.
type _AllNamed = Exclude<CommandName, (typeof COMMAND_NAMES)[keyof typeof COMMAND_NAMES]> extends never ? true : never;
const _allNamed: _AllNamed = true;

/** Every command name, in catalog order. */
export const COMMAND_LIST = Object.keys(COMMAND_CATALOG) as CommandName[];

/** Validated `data` of command `N` (defaults applied). */
export type CommandData<N extends CommandName> = z.output<(typeof COMMAND_CATALOG)[N]['dataSchema']>;
/** `data` as a sender may write it (defaults not yet applied). */
export type CommandDataInput<N extends CommandName> = z.input<(typeof COMMAND_CATALOG)[N]['dataSchema']>;
/** Aggregate of command `N`. */
export type CommandAggregate<N extends CommandName> = (typeof COMMAND_CATALOG)[N]['aggregate'];

/** What a sender puts on the wire. */
export interface CommandRequest<N extends CommandName = CommandName> {
  meta: CommandMeta;
  data: CommandDataInput<N>;
}

/** A validated command, as a handler passes it to `decide`. */
export interface Command<N extends CommandName = CommandName> {
  readonly name: N;
  readonly aggregate: CommandAggregate<N>;
  readonly aggregateId: string;
  readonly meta: CommandMeta;
  readonly data: CommandData<N>;
}

/** Every command, discriminated on `name`. */
export type AnyCommand = { [N in CommandName]: Command<N> }[CommandName];
/** The member of `AnyCommand` named `N` (equals `Command<N>` for a literal `N`; assignable to the unions for a generic one). */
export type CommandOf<N extends CommandName> = Extract<AnyCommand, { name: N }>;
/** Commands served by the registry for the Proplet aggregate. */
export type PropletCommand = Extract<AnyCommand, { aggregate: 'proplet' }>;
/** Commands served by the registry for the Site aggregate. */
export type SiteCommand = Extract<AnyCommand, { aggregate: 'site' }>;
/** Commands served by the scheduler for the Task aggregate. */
export type TaskCommand = Extract<AnyCommand, { aggregate: 'task' }>;

export type RegisterProplet = Command<'proplet.register'>;
export type UpdateProplet = Command<'proplet.update'>;
export type LabelProplet = Command<'proplet.label'>;
export type CordonProplet = Command<'proplet.cordon'>;
export type UncordonProplet = Command<'proplet.uncordon'>;
export type ChangePropletHealth = Command<'proplet.changeHealth'>;
export type DeregisterProplet = Command<'proplet.deregister'>;
export type PauseSiteEvacuation = Command<'site.pauseEvacuation'>;
export type ResumeSiteEvacuation = Command<'site.resumeEvacuation'>;
export type CreateTask = Command<'task.create'>;
export type UpdateTask = Command<'task.update'>;
export type StartTask = Command<'task.start'>;
export type StopTask = Command<'task.stop'>;
export type DeleteTask = Command<'task.delete'>;
export type ScheduleTask = Command<'task.schedule'>;
export type RecordTaskUnschedulable = Command<'task.recordUnschedulable'>;
export type RecordTaskDispatched = Command<'task.recordDispatched'>;
export type RecordTaskStarted = Command<'task.recordStarted'>;
export type RecordTaskResult = Command<'task.recordResult'>;
export type RecordTaskTimeout = Command<'task.recordTimeout'>;
export type EvacuateTask = Command<'task.evacuate'>;
export type ArchiveTask = Command<'task.archive'>;

/** True when `name` is in the command catalog. */
export const isCommandName = (name: string): name is CommandName => Object.prototype.hasOwnProperty.call(COMMAND_CATALOG, name);

/** `<aggregate>.<name>` from the two subject tokens; throws `InvalidError` for an unknown command. */
export function commandNameOf(aggregate: string, name: string): CommandName {
  const full = `${aggregate}.${name}`;
  if (!isCommandName(full)) throw InvalidError.field('command', full, 'is not a known command');
  return full;
}

/** The request subject of a command: `<p>.commands.<aggregate>.<name>`. */
export function commandSubjectFor(names: NatsNames, command: CommandName): string {
  const c = COMMAND_CATALOG[command];
  return names.commandSubject(c.aggregate, c.name);
}

/** A command request before its data is checked; built once (zod compiles a schema on first use). */
const CommandRequestSchema = z.object({ meta: CommandMetaSchema, data: z.unknown() });

/**
 * Validates a request for `name` (meta, data, fencing token) and returns the typed command.
 * Throws `InvalidError` naming the command and the field (e.g. `data.channel.layout`).
 */
export function parseCommand<N extends CommandName>(name: N, raw: unknown): CommandOf<N>;
export function parseCommand(name: string, raw: unknown): AnyCommand;
export function parseCommand(name: string, raw: unknown): AnyCommand {
  if (!isCommandName(name)) throw InvalidError.field('command', name, 'is not a known command');
  const c: CommandDefinition = COMMAND_CATALOG[name];
  const request = parseOrThrow(CommandRequestSchema, raw, `command ${name}`);
  if (c.fenced && request.meta.fencingToken === undefined) {
    throw InvalidError.field('meta.fencingToken', undefined, `command ${name}: required (sent by a lease holder)`);
  }
  const data = parseOrThrow(c.dataSchema, request.data, `command ${name}`, 'data') as Record<string, unknown>;
  const aggregateId = data[c.idField];
  return { name, aggregate: c.aggregate, aggregateId: String(aggregateId), meta: request.meta, data } as AnyCommand;
}

/** The JSON shape of a typed error on the wire. */
export const WireErrorSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const sequence = z.number().int().nonnegative();
/** A successful reply: the stream sequences appended (empty when the command changed nothing) and the aggregate's last one. */
export const CommandOkSchema = z.object({
  ok: z.literal(true),
  aggregateId: z.string().min(1),
  sequences: z.array(sequence),
  /** The aggregate's last stream sequence after the command; read models are awaited up to it. */
  lastSequence: sequence,
});
/** A refused command: a typed error (`NotFound`, `Invalid`, `Conflict`, `Unschedulable`, `NotLeader`, `Internal`). */
export const CommandErrorSchema = z.object({ ok: z.literal(false), error: WireErrorSchema });
/** The reply to every command. */
export const CommandReplySchema = z.discriminatedUnion('ok', [CommandOkSchema, CommandErrorSchema]);
/** A successful command reply. */
export type CommandOk = z.infer<typeof CommandOkSchema>;
/** A command's reply: `CommandOk` or `{ok: false, error}`. */
export type CommandReply = CommandOk | { ok: false; error: WireError };

/** A success reply. */
export function okReply(aggregateId: string, sequences: number[], lastSequence: number): CommandOk {
  return { ok: true, aggregateId, sequences, lastSequence };
}

/** An error reply from anything thrown (non-`PropellerError`s become `Internal`). */
export function errorReply(e: unknown): CommandReply {
  return { ok: false, error: toWireError(e) };
}

/** Validates a reply read from the wire; throws `InvalidError` when it is not one. */
export function parseCommandReply(raw: unknown): CommandReply {
  return parseOrThrow(CommandReplySchema, raw, 'command reply');
}

/** Returns the success part of a reply or throws the typed error it carries, so `isX()` works for the caller. */
export function unwrapReply(reply: CommandReply): CommandOk {
  if (reply.ok) return reply;
  throw fromWireError(reply.error) satisfies PropellerError;
}
