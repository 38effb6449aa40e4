import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errors as natsErrors } from '@nats-io/transport-node';
import {
  COMMAND_CATALOG,
  fromWireError,
  InternalError,
  isCommandName,
  InvalidError,
  toWireError,
  type NatsNames,
  type PropellerError,
  type WireError,
} from '@propeller/events';

/** What a command handler reports back: the aggregate it touched and the sequences it appended. */
export interface CommandResult {
  aggregateId: string;
  sequences: number[];
  lastSequence: number;
}

/** A successful command reply. */
export interface CommandOk extends CommandResult {
  ok: true;
}

/** A failed command reply; `error` rebuilds into the typed error with `fromWireError`. */
export interface CommandFailed {
  ok: false;
  error: WireError;
}

/** Every command reply on the wire. */
export type CommandReply = CommandOk | CommandFailed;

/** What a handler knows besides the request body. */
export interface CommandContext {
  aggregate: string;
  name: string;
  subject: string;
  headers: MsgHdrs | undefined;
}

/** Handles one command; `request` is the parsed JSON body, still to be validated by the handler. */
export type CommandHandler = (request: unknown, ctx: CommandContext) => Promise<CommandResult>;

/** Options of `serveCommands`. */
export interface ServeCommandsOptions {
  /** Queue group (default `names.commandQueue(aggregate)`, shared by every replica). */
  queue?: string;
  /** Called with every failure that is replied as `Internal` (unexpected errors), for logging. */
  onInternalError?: (error: unknown, ctx: CommandContext) => void;
  /** Subscribe to the leader subjects (`names.leaderCommandSubject`) instead of the command subjects (ADR 0025). */
  leader?: boolean;
}

/** A running set of command subscriptions. */
export interface CommandServer {
  /** Stops taking requests and waits for the ones in progress to be answered. */
  stop(): Promise<void>;
}

const decoder = new TextDecoder();

/**
 * Serves the commands of one aggregate over NATS request/reply, one subscription per command
 * name, all in the aggregate's queue group. Every request is answered: invalid JSON as
 * `Invalid`, typed errors as themselves, anything else as `Internal`. It never throws on input.
 */
export function serveCommands(
  nc: NatsConnection,
  names: NatsNames,
  aggregate: string,
  handlers: Record<string, CommandHandler>,
  opts: ServeCommandsOptions = {},
): CommandServer {
  const queue = opts.queue ?? names.commandQueue(aggregate);
  const inFlight = new Set<Promise<void>>();
  const subs: Subscription[] = Object.entries(handlers).map(([name, handler]) => {
    const subject = opts.leader === true ? names.leaderCommandSubject(aggregate, name) : names.commandSubject(aggregate, name);
    return nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) return;
        const ctx: CommandContext = { aggregate, name, subject, headers: msg.headers };
        const p = answer(msg, handler, ctx, opts.onInternalError).finally(() => inFlight.delete(p));
        inFlight.add(p);
      },
    });
  });
  return {
    async stop() {
      await Promise.all(subs.map((s) => s.drain()));
      await Promise.all([...inFlight]);
    },
  };
}

async function answer(
  msg: Msg,
  handler: CommandHandler,
  ctx: CommandContext,
  onInternalError: ServeCommandsOptions['onInternalError'],
): Promise<void> {
  let reply: CommandReply;
  try {
    let request: unknown;
    try {
      request = msg.data.length === 0 ? {} : JSON.parse(decoder.decode(msg.data));
    } catch (e) {
      throw new InvalidError(`${ctx.subject}: request is not JSON`, [{ field: 'body', rule: 'must be a JSON document' }], { cause: e });
    }
    const result = await handler(request, ctx);
    reply = { ok: true, aggregateId: result.aggregateId, sequences: result.sequences, lastSequence: result.lastSequence };
  } catch (e) {
    const error = toWireError(e);
    if (error.code === 'Internal') onInternalError?.(e, ctx);
    reply = { ok: false, error };
  }
  try {
    msg.respond(JSON.stringify(reply));
  } catch (e) {
    // The requester is gone or the connection is closing; nothing else can be answered.
    onInternalError?.(e, ctx);
  }
}

/** Options of `sendCommand`. */
export interface SendCommandOptions {
  /** How long to wait for a reply (default 5 s). */
  timeoutMs?: number;
  headers?: MsgHdrs;
  /**
   * Ask the replica holding the aggregate's singleton lease first (`names.leaderCommandSubject`), and the
   * queue group when no leader answers, e.g. during a failover (ADR 0025). Default: the catalog's `leader`
   * flag of the command (`task.create`, `task.start`).
   */
  leader?: boolean;
}

/**
 * Sends a command and returns its ok reply, or throws the typed error it carried, so `isInvalid(e)`
 * and friends work on the caller's side. No responder or no reply in time is `Internal`.
 */
export async function sendCommand(
  nc: NatsConnection,
  names: NatsNames,
  aggregate: string,
  name: string,
  request: unknown,
  opts: SendCommandOptions = {},
): Promise<CommandOk> {
  const subject = names.commandSubject(aggregate, name);
  const body = JSON.stringify(request);
  const options = { timeout: opts.timeoutMs ?? 5_000, ...(opts.headers ? { headers: opts.headers } : {}) };
  let msg: Msg | undefined;
  if (opts.leader ?? isLeaderCommand(aggregate, name)) {
    const leader = names.leaderCommandSubject(aggregate, name);
    try {
      msg = await nc.request(leader, body, options);
    } catch (e) {
      // Nobody holds the lease right now: any replica takes the command, and the next leader catches up.
      if (!isNoResponders(e)) throw unreachable(leader, e);
    }
  }
  try {
    msg ??= await nc.request(subject, body, options);
  } catch (e) {
    throw unreachable(subject, e);
  }
  let reply: CommandReply;
  try {
    reply = JSON.parse(decoder.decode(msg.data)) as CommandReply;
  } catch (e) {
    throw new InternalError(`${subject}: reply is not JSON`, { cause: e });
  }
  if (reply.ok === true) return reply;
  if (reply.ok === false && reply.error && typeof reply.error.code === 'string') throw fromWireError(reply.error);
  throw new InternalError(`${subject}: reply has neither ok nor error`);
}

const isLeaderCommand = (aggregate: string, name: string): boolean => {
  const full = `${aggregate}.${name}`;
  return isCommandName(full) && COMMAND_CATALOG[full].leader;
};

const isNoResponders = (e: unknown): boolean => e instanceof natsErrors.NoRespondersError || (e instanceof natsErrors.RequestError && e.isNoResponders());

function unreachable(subject: string, e: unknown): PropellerError {
  const noResponders = isNoResponders(e);
  const why = noResponders ? 'no service answers' : e instanceof natsErrors.TimeoutError ? 'no reply in time' : 'request failed';
  return new InternalError(`${subject}: ${why}`, { cause: e, details: { subject, reason: noResponders ? 'noResponders' : e instanceof natsErrors.TimeoutError ? 'timeout' : 'failed' } });
}
