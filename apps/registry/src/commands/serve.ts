import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  COMMAND_CATALOG,
  COMMAND_LIST,
  LEASE_NAMES,
  makeEnvelope,
  parseCommand,
  parseStoredEvent,
  type AnyCommand,
  type DomainEvent,
  type NatsNames,
  type PropletCommand,
  type PropletEvent,
  type SiteCommand,
  type SiteEvent,
  type StoredEnvelope,
} from '@propeller/events';
import {
  AggregateCache,
  assertFencingToken,
  handleCommand,
  serveCommands,
  type CommandContext,
  type CommandHandler,
  type CommandServer,
  type Decider,
  type EnvelopeContext,
  type EventStore,
} from '@propeller/eventstore';
import { propletDecider } from '../proplet/decider';
import type { PropletState } from '../proplet/state';
import { siteDecider } from '../site/decider';
import type { SiteState } from '../site/state';

/** Options of `serveRegistryCommands`. */
export interface RegistryCommandsOptions {
  nc: NatsConnection;
  names: NatsNames;
  store: EventStore;
  /** The leases bucket: fenced commands are checked against the health judge's lease in it. */
  leases: KV;
  /** Reloads and retries after this many version conflicts before answering `Conflict` (default 5). */
  maxRetries?: number;
  /** Hot aggregates kept in memory per aggregate type (default 10,000 each). */
  cacheSize?: number;
  /** Called once per answered command with its outcome (`ok` or the error code), for metrics. */
  onAnswered?: (command: string, outcome: string) => void;
  /** Called with every failure answered as `Internal`, for logging. */
  onInternalError?: (error: unknown, ctx: CommandContext) => void;
}

/** The registry's command servers (one per aggregate). */
export interface RegistryCommands {
  stop(): Promise<void>;
}

// Decided events are validated against the catalog before anything is written (STYLE.md rule 9).
const toEnvelope = <E extends DomainEvent>(event: E, ctx: EnvelopeContext) =>
  makeEnvelope({ event, aggregate: ctx.aggregate, aggregateId: ctx.aggregateId, meta: ctx.meta, id: ctx.id, occurredAt: ctx.occurredAt });

// Stored events are upcast and validated before they are folded, exactly as the projection reads them.
const fromEnvelope = <E extends DomainEvent>(stored: StoredEnvelope): E => {
  const e = parseStoredEvent(stored);
  return { type: e.type, data: e.data } as E;
};

/**
 * Serves every `proplet.*` and `site.*` command of the catalog over request/reply in the aggregates'
 * queue groups: validate, check the fencing token of fenced commands (`proplet.changeHealth`,
 * `site.pauseEvacuation`) against the health judge's lease (`NotLeader` when stale), then decide and
 * append through `handleCommand` with an in-memory aggregate cache and bounded retries on conflict.
 */
export function serveRegistryCommands(opts: RegistryCommandsOptions): RegistryCommands {
  const { nc, names } = opts;
  const servers: CommandServer[] = [
    serveCommands(nc, names, 'proplet', handlersFor<PropletCommand, PropletEvent, PropletState>('proplet', propletDecider, opts), {
      ...(opts.onInternalError ? { onInternalError: opts.onInternalError } : {}),
    }),
    serveCommands(nc, names, 'site', handlersFor<SiteCommand, SiteEvent, SiteState>('site', siteDecider, opts), {
      ...(opts.onInternalError ? { onInternalError: opts.onInternalError } : {}),
    }),
  ];
  return {
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

function handlersFor<C extends AnyCommand, E extends DomainEvent, S>(
  aggregate: 'proplet' | 'site',
  decider: Decider<C, E, S>,
  opts: RegistryCommandsOptions,
): Record<string, CommandHandler> {
  const cache = new AggregateCache<S>(opts.cacheSize);
  const handlers: Record<string, CommandHandler> = {};
  for (const full of COMMAND_LIST) {
    const def = COMMAND_CATALOG[full];
    if (def.aggregate !== aggregate) continue;
    handlers[def.name] = async (request) => {
      try {
        // Only this aggregate's commands are served here, so the parsed command is one of `C`.
        const command = parseCommand(full, request) as C;
        if (def.fenced) await assertFencingToken(opts.leases, LEASE_NAMES.healthJudge, command.meta.fencingToken);
        const result = await handleCommand({
          store: opts.store,
          aggregate,
          id: command.aggregateId,
          decider,
          command,
          meta: { correlationId: command.meta.correlationId, causationId: command.meta.causationId ?? null, traceparent: command.meta.traceparent ?? null },
          toEnvelope: toEnvelope<E>,
          fromEnvelope: fromEnvelope<E>,
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
  return handlers;
}
