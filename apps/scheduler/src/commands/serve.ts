import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  COMMAND_CATALOG,
  COMMAND_LIST,
  DEFAULT_MODULE_MAX_BYTES,
  InvalidError,
  LEASE_NAMES,
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
  serveCommands,
  type CommandContext,
  type CommandHandler,
  type CommandServer,
  type EnvelopeContext,
  type EventStore,
} from '@propeller/eventstore';
import { taskDecider } from '../task/decider';
import { checkModule } from '../task/module';
import type { TaskState } from '../task/state';

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
async function storeUpload(request: unknown, opts: TaskCommandsOptions): Promise<unknown> {
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
  const checked = checkModule(file, opts.moduleMaxBytes ?? DEFAULT_MODULE_MAX_BYTES);
  // Content-addressed: the same bytes are stored once, whoever uploads them.
  if ((await opts.modules.info(checked.ref.digest)) === null) {
    await opts.modules.putBlob({ name: checked.ref.digest, description: `Wasm module, ${checked.ref.size} bytes` }, checked.bytes);
  }
  return { ...request, data: { ...rest, module: checked.ref } };
}

/**
 * Serves every `task.*` command of the catalog over request/reply in the task queue group:
 * validate, store an uploaded module (`task.create` with `file`), check the fencing token of fenced
 * commands (`task.schedule`, `task.recordUnschedulable`, `task.recordTimeout`) against the
 * `scheduler` lease (`NotLeader` when stale), then decide and append through `handleCommand` with an
 * in-memory aggregate cache and bounded retries on conflict. Every replica serves them.
 */
export function serveTaskCommands(opts: TaskCommandsOptions): CommandServer {
  const cache = new AggregateCache<TaskState>(opts.cacheSize);
  const handlers: Record<string, CommandHandler> = {};
  for (const full of COMMAND_LIST) {
    const def = COMMAND_CATALOG[full];
    if (def.aggregate !== 'task') continue;
    handlers[def.name] = async (raw) => {
      try {
        const request = full === 'task.create' ? await storeUpload(raw, opts) : raw;
        const command = parseCommand(full, request) as TaskCommand;
        if (def.fenced) await assertFencingToken(opts.leases, LEASE_NAMES.scheduler, command.meta.fencingToken);
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
        });
        opts.onAnswered?.(full, 'ok');
        return { aggregateId: result.aggregateId, sequences: result.sequences, lastSequence: result.lastSequence };
      } catch (e) {
        opts.onAnswered?.(full, typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'Internal');
        throw e;
      }
    };
  }
  return serveCommands(opts.nc, opts.names, 'task', handlers, opts.onInternalError ? { onInternalError: opts.onInternalError } : {});
}
