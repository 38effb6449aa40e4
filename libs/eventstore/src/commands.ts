import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errors as natsErrors, headers as natsHeaders } from '@nats-io/transport-node';
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
 * Header of a batch request (`sendCommands`): the body is a JSON array of requests of one command, and
 * the reply a JSON array of their replies, in order. One message instead of one per command.
 */
export const HEADER_BATCH = 'Propeller-Batch';
/** Most requests in one batch; a longer batch is refused as a whole (`Invalid`). */
export const MAX_BATCH_COMMANDS = 1000;

/**
 * Serves the commands of one aggregate over NATS request/reply, one subscription per command
 * name, all in the aggregate's queue group. Every request is answered: invalid JSON as
 * `Invalid`, typed errors as themselves, anything else as `Internal`. It never throws on input.
 * A batch request (header `Propeller-Batch`, from `sendCommands`) runs the handler once per item, all at
 * once, and answers each item as a single request would be, in one reply.
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
        const batch = msg.headers !== undefined && msg.headers.has(HEADER_BATCH);
        const p = (batch ? answerBatch(msg, handler, ctx, opts.onInternalError) : answer(msg, handler, ctx, opts.onInternalError)).finally(() => inFlight.delete(p));
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

function parseBody(msg: Msg, ctx: CommandContext): unknown {
  try {
    return msg.data.length === 0 ? {} : JSON.parse(decoder.decode(msg.data));
  } catch (e) {
    throw new InvalidError(`${ctx.subject}: request is not JSON`, [{ field: 'body', rule: 'must be a JSON document' }], { cause: e });
  }
}

/** Runs one request through its handler; every outcome becomes a reply (unexpected failures `Internal`, reported). */
async function replyTo(request: () => unknown, handler: CommandHandler, ctx: CommandContext, onInternalError: ServeCommandsOptions['onInternalError']): Promise<CommandReply> {
  try {
    const result = await handler(request(), ctx);
    return { ok: true, aggregateId: result.aggregateId, sequences: result.sequences, lastSequence: result.lastSequence };
  } catch (e) {
    const error = toWireError(e);
    if (error.code === 'Internal') onInternalError?.(e, ctx);
    return { ok: false, error };
  }
}

function respond(msg: Msg, body: unknown, ctx: CommandContext, onInternalError: ServeCommandsOptions['onInternalError']): void {
  try {
    msg.respond(JSON.stringify(body));
  } catch (e) {
    // The requester is gone or the connection is closing; nothing else can be answered.
    onInternalError?.(e, ctx);
  }
}

async function answer(msg: Msg, handler: CommandHandler, ctx: CommandContext, onInternalError: ServeCommandsOptions['onInternalError']): Promise<void> {
  respond(msg, await replyTo(() => parseBody(msg, ctx), handler, ctx, onInternalError), ctx, onInternalError);
}

async function answerBatch(msg: Msg, handler: CommandHandler, ctx: CommandContext, onInternalError: ServeCommandsOptions['onInternalError']): Promise<void> {
  let items: unknown[];
  try {
    const body = parseBody(msg, ctx);
    if (!Array.isArray(body)) throw InvalidError.field('body', typeof body, `${ctx.subject}: a batch request is a JSON array of requests`);
    if (body.length > MAX_BATCH_COMMANDS) throw InvalidError.field('body', body.length, `${ctx.subject}: at most ${MAX_BATCH_COMMANDS} requests in one batch`);
    items = body;
  } catch (e) {
    // The batch as a whole is refused: one error reply, not an array.
    respond(msg, { ok: false, error: toWireError(e) } satisfies CommandFailed, ctx, onInternalError);
    return;
  }
  const replies = await Promise.all(items.map((item) => replyTo(() => item, handler, ctx, onInternalError)));
  respond(msg, replies, ctx, onInternalError);
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
  const { subject, data } = await requestCommand(nc, names, aggregate, name, JSON.stringify(request), opts, opts.headers);
  return unwrap(parseReply(subject, data), subject);
}

/**
 * Sends several requests of one command in one message (a batch, `HEADER_BATCH`) and returns each one's
 * outcome in order, as `Promise.allSettled` would for `sendCommand` of each: the ok reply, or the typed
 * error it carried. Routed like `sendCommand` (the leader first for leader commands). A replica that
 * does not know batches answers the array with one error: then each request is sent on its own. No
 * responder or no reply in time rejects the whole call (`Internal`), as for `sendCommand`.
 */
export async function sendCommands(
  nc: NatsConnection,
  names: NatsNames,
  aggregate: string,
  name: string,
  requests: readonly unknown[],
  opts: SendCommandOptions = {},
): Promise<Array<PromiseSettledResult<CommandOk>>> {
  if (requests.length === 0) return [];
  if (requests.length > MAX_BATCH_COMMANDS) throw InvalidError.field('requests', requests.length, `at most ${MAX_BATCH_COMMANDS} commands in one batch`);
  const h = natsHeaders();
  if (opts.headers) for (const [k, values] of opts.headers) for (const v of values) h.append(k, v);
  h.set(HEADER_BATCH, '1');
  const { subject, data } = await requestCommand(nc, names, aggregate, name, JSON.stringify(requests), opts, h);
  const raw = parseReply(subject, data);
  if (!Array.isArray(raw) || raw.length !== requests.length) {
    // Not a batch answer: a replica from before batches (it refused the array as one request).
    return Promise.allSettled(requests.map((r) => sendCommand(nc, names, aggregate, name, r, opts)));
  }
  return raw.map((reply: unknown) => {
    try {
      return { status: 'fulfilled', value: unwrap(reply, subject) };
    } catch (e) {
      return { status: 'rejected', reason: e };
    }
  });
}

/** Requests the leader subject first for leader commands (the queue group when no leader answers), else the queue group. */
async function requestCommand(
  nc: NatsConnection,
  names: NatsNames,
  aggregate: string,
  name: string,
  body: string,
  opts: SendCommandOptions,
  hdrs: MsgHdrs | undefined,
): Promise<{ subject: string; data: Uint8Array }> {
  const subject = names.commandSubject(aggregate, name);
  const options = { timeout: opts.timeoutMs ?? 5_000, ...(hdrs ? { headers: hdrs } : {}) };
  if (opts.leader ?? isLeaderCommand(aggregate, name)) {
    const leader = names.leaderCommandSubject(aggregate, name);
    try {
      return { subject: leader, data: (await nc.request(leader, body, options)).data };
    } catch (e) {
      // Nobody holds the lease right now: any replica takes the command, and the next leader catches up.
      if (!isNoResponders(e)) throw unreachable(leader, e);
    }
  }
  try {
    return { subject, data: (await nc.request(subject, body, options)).data };
  } catch (e) {
    throw unreachable(subject, e);
  }
}

function parseReply(subject: string, data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new InternalError(`${subject}: reply is not JSON`, { cause: e });
  }
}

/** The ok reply, or the typed error the reply carries, thrown. */
function unwrap(raw: unknown, subject: string): CommandOk {
  const reply = raw as CommandReply;
  if (reply?.ok === true) return reply;
  if (reply?.ok === false && reply.error && typeof reply.error.code === 'string') throw fromWireError(reply.error);
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

/** Options of `CommandBatcher`. */
export interface CommandBatcherOptions extends Omit<SendCommandOptions, 'headers'> {
  /** Most requests in one message (default 100, at most `MAX_BATCH_COMMANDS`). */
  maxBatch?: number;
}

/**
 * Sends the requests of one command that callers make at about the same time as batches (`sendCommands`): the
 * requests made before the event loop's next turn (`setImmediate`) go in one message, up to `maxBatch` each.
 * Each caller gets what `sendCommand` would give it: its ok reply, or its own typed error. No responder or no
 * reply in time fails every request of that message. Made for a steady stream of small commands (device
 * results): one message and one reply per batch instead of one per request.
 */
export class CommandBatcher {
  readonly #maxBatch: number;
  readonly #send: SendCommandOptions;
  #queued: Array<{ request: unknown; resolve: (ok: CommandOk) => void; reject: (e: unknown) => void }> = [];
  #scheduled = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: NatsNames,
    private readonly aggregate: string,
    private readonly name: string,
    opts: CommandBatcherOptions = {},
  ) {
    const max = opts.maxBatch ?? 100;
    if (!Number.isInteger(max) || max < 1 || max > MAX_BATCH_COMMANDS) throw InvalidError.field('maxBatch', max, `an integer from 1 to ${MAX_BATCH_COMMANDS}`);
    this.#maxBatch = max;
    const { timeoutMs, leader } = opts;
    this.#send = { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(leader === undefined ? {} : { leader }) };
  }

  /** Sends one request with the others of this turn; resolves or rejects as `sendCommand` would. */
  send(request: unknown): Promise<CommandOk> {
    return new Promise<CommandOk>((resolve, reject) => {
      this.#queued.push({ request, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queued = this.#queued;
    this.#queued = [];
    const send = this.#send;
    for (let i = 0; i < queued.length; i += this.#maxBatch) {
      const batch = queued.slice(i, i + this.#maxBatch);
      const one = batch.length === 1 ? batch[0] : undefined;
      if (one !== undefined) {
        sendCommand(this.nc, this.names, this.aggregate, this.name, one.request, send).then(one.resolve, one.reject);
        continue;
      }
      sendCommands(this.nc, this.names, this.aggregate, this.name, batch.map((b) => b.request), send).then(
        (outcomes) =>
          outcomes.forEach((o, j) => {
            const b = batch[j] as (typeof batch)[number];
            if (o.status === 'fulfilled') b.resolve(o.value);
            else b.reject(o.reason);
          }),
        (e: unknown) => {
          for (const b of batch) b.reject(e);
        },
      );
    }
  }
}
