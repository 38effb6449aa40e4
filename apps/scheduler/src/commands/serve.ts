import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  COMMAND_CATALOG,
  COMMAND_LIST,
  DEFAULT_MODULE_MAX_BYTES,
  InvalidError,
  LEASE_NAMES,
  NotLeaderError,
  makeEnvelope,
  parseCommand,
  parseStoredEvent,
  type NatsNames,
  type StoredEnvelope,
  type TaskCommand,
  type TaskEvent,
} from '@propeller/events';
import {
  AggregateCache,
  assertFencingToken,
  handleCommand,
  ModuleStore,
  serveCommands,
  type CommandContext,
  type CommandHandler,
  type CommandResult,
  type CommandServer,
  type EnvelopeContext,
  type EventStore,
} from '@propeller/eventstore';
import { taskDecider } from '../task/decider';
import { checkModule } from '../task/module';
import { isLive, type LiveTask, type TaskState } from '../task/state';

/** Options of `serveTaskCommands`. */
export interface TaskCommandsOptions {
  nc: NatsConnection;
  names: NatsNames;
  store: EventStore;
  /** The leases bucket: fenced commands are checked against the `scheduler` lease in it. */
  leases: KV;
  /** The module object store `names.modules`, where `file` uploads go once, by digest. */
  modules: ObjectStore;
  /** `MODULE_MAX_BYTES` (default 16 MiB). */
  moduleMaxBytes?: number;
  /** Reloads and retries after this many version conflicts before answering `Conflict` (default 5). */
  maxRetries?: number;
  /** Hot aggregates kept in memory (default 10,000). */
  cacheSize?: number;
  /** Called once per answered command with its outcome (`ok` or the error code), for metrics. */
  onAnswered?: (command: string, outcome: string) => void;
  /** Called with every failure answered as `Internal`, for logging. */
  onInternalError?: (error: unknown, ctx: CommandContext) => void;
  /** This replica's placement loop: places a task inside its start command while it holds the lease. */
  placer?: Placer;
}

/** What the command server needs of the placement loop (ADR 0025). */
export interface Placer {
  /** True while this replica's loop holds the `scheduler` lease with this fencing token. */
  holds(token: number): boolean;
  /** Places a task that is `pending` after a start; resolves with what it appended (nothing when not active). */
  placeStarted(taskId: string, state: LiveTask): Promise<CommandResult | undefined>;
}

/** Task commands served in this process: over NATS, on the leader subjects while active, and in-process. */
export interface TaskCommands extends CommandServer {
  /**
   * Runs one task command in this process, as if it had come over NATS (the placement loop's own
   * commands): no round trip, and a fenced command is checked against the local lease (`placer.holds`).
   */
  execute(command: string, request: unknown): Promise<CommandResult>;
  /** Serves `task.create` and `task.start` on the leader subjects, placing inside them (while the loop is active). */
  serveLeader(): void;
  /** Stops serving the leader subjects (the lease is lost); senders fall back to the queue group. */
  stopLeader(): Promise<void>;
}


// Decided events are validated against the catalog before anything is written (STYLE.md rule 9).
const toEnvelope = (event: TaskEvent, ctx: EnvelopeContext) =>
  makeEnvelope({ event, aggregate: ctx.aggregate, aggregateId: ctx.aggregateId, meta: ctx.meta, id: ctx.id, occurredAt: ctx.occurredAt });

// Stored events are upcast and validated before they are folded, exactly as the projection reads them.
const fromEnvelope = (stored: StoredEnvelope): TaskEvent => {
  const e = parseStoredEvent(stored);
  return { type: e.type, data: e.data } as TaskEvent;
};

/**
 * Stores an uploaded module once, by digest, and turns `data.file` into `data.module`, so the
 * command (and the events it causes) carry only `{digest, size, source}`. A request that names
 * both `file` and `imageUrl` (or `module`) is refused: exactly one source.
 */
async function storeUpload(request: unknown, opts: TaskCommandsOptions, modules: ModuleStore): Promise<unknown> {
  if (typeof request !== 'object' || request === null) return request;
  const data = (request as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null || !('file' in data)) return request;
  const { file, ...rest } = data as Record<string, unknown>;
  if (file === undefined || file === null) return { ...request, data: rest };
  for (const other of ['imageUrl', 'module'] as const) {
    if (rest[other] !== undefined && rest[other] !== null) {
      throw InvalidError.field(`data.${other}`, rest[other], 'set exactly one of file or image_url');
    }
  }
  const module = await modules.put(checkModule(file, opts.moduleMaxBytes ?? DEFAULT_MODULE_MAX_BYTES));
  return { ...request, data: { ...rest, module } };
}

/**
 * Serves every `task.*` command of the catalog over request/reply in the task queue group:
 * validate, store an uploaded module (`task.create` with `file`), check the fencing token of fenced
 * commands (`task.schedule`, `task.recordUnschedulable`, `task.recordTimeout`) against the
 * `scheduler` lease (`NotLeader` when stale), then decide and append through `handleCommand` with an
 * in-memory aggregate cache and bounded retries on conflict. Every replica serves them. The replica
 * whose placement loop is active also serves `task.create` and `task.start` on the leader subjects and
 * places the started task before it answers (ADR 0025); the loop's own commands run in-process.
 */
export function serveTaskCommands(opts: TaskCommandsOptions): TaskCommands {
  const cache = new AggregateCache<TaskState>(opts.cacheSize);
  const modules = new ModuleStore(() => Promise.resolve(opts.modules));
  type Route = 'nats' | 'leader' | 'local';

  const run = async (full: string, raw: unknown, route: Route): Promise<CommandResult> => {
    const def = COMMAND_CATALOG[full as keyof typeof COMMAND_CATALOG];
    try {
      const request = full === 'task.create' ? await storeUpload(raw, opts, modules) : raw;
      const command = parseCommand(full, request) as TaskCommand;
      if (def.fenced) {
        if (route !== 'local') await assertFencingToken(opts.leases, LEASE_NAMES.scheduler, command.meta.fencingToken);
        else if (!(opts.placer?.holds(command.meta.fencingToken ?? 0) ?? false)) {
          throw new NotLeaderError(`lease ${LEASE_NAMES.scheduler}: token ${String(command.meta.fencingToken)} is not held by this replica`, {
            details: { key: LEASE_NAMES.scheduler, token: command.meta.fencingToken },
          });
        }
      }
      // Commands of one task run one after another in this replica (they share the cache: `AggregateCache.exclusive`).
      const result = await handleCommand({
        store: opts.store,
        aggregate: 'task',
        id: command.aggregateId,
        decider: taskDecider,
        command,
        meta: { correlationId: command.meta.correlationId, causationId: command.meta.causationId ?? null, traceparent: command.meta.traceparent ?? null },
        toEnvelope,
        fromEnvelope,
        cache,
        maxRetries: opts.maxRetries ?? 5,
        // Ids are fresh UUIDs (or UUIDv5 of an Idempotency-Key, retried rarely): skip the log read.
        likelyNew: full === 'task.create',
      });
      // Placement runs after this task's queue slot is free: its `task.schedule` queues behind it.
      let answer: CommandResult = { aggregateId: result.aggregateId, sequences: result.sequences, lastSequence: result.lastSequence };
      if (route === 'leader' && opts.placer && isLive(result.state) && result.state.status === 'pending') {
        const placed = await opts.placer.placeStarted(command.aggregateId, result.state);
        if (placed !== undefined && placed.sequences.length > 0) {
          answer = { ...answer, sequences: [...answer.sequences, ...placed.sequences], lastSequence: Math.max(answer.lastSequence, placed.lastSequence) };
        }
      }
      opts.onAnswered?.(full, 'ok');
      return answer;
    } catch (e) {
      opts.onAnswered?.(full, typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'Internal');
      throw e;
    }
  };

  const handlers: Record<string, CommandHandler> = {};
  const leaderHandlers: Record<string, CommandHandler> = {};
  for (const full of COMMAND_LIST) {
    const def = COMMAND_CATALOG[full];
    if (def.aggregate !== 'task') continue;
    handlers[def.name] = (raw) => run(full, raw, 'nats');
    if (def.leader) leaderHandlers[def.name] = (raw) => run(full, raw, 'leader');
  }
  const serveOptions = opts.onInternalError ? { onInternalError: opts.onInternalError } : {};
  const server = serveCommands(opts.nc, opts.names, 'task', handlers, serveOptions);
  let leader: CommandServer | undefined;
  return {
    execute: (full, request) => run(full, request, 'local'),
    serveLeader() {
      leader ??= serveCommands(opts.nc, opts.names, 'task', leaderHandlers, { ...serveOptions, leader: true, queue: `${opts.names.commandQueue('task')}-leader` });
    },
    async stopLeader() {
      const l = leader;
      leader = undefined;
      await l?.stop();
    },
    async stop() {
      await this.stopLeader();
      await server.stop();
    },
  };
}
