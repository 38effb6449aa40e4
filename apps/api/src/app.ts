import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { ConflictError, InvalidError, type CommandDataInput, type CommandName, type NatsNames } from '@propeller/events';
import { sendCommand, sendCommands, type CommandOk } from '@propeller/eventstore';
import { waitForSequence } from '@propeller/projections';
import { countUnfinishedTasksOnProplet, type ReadModelTables } from '@propeller/read-models';
import { createHealth, type Health } from '@propeller/service';
import { createMetrics, type Logger, type Metrics } from '@propeller/telemetry';
import { registerAdminRoutes } from './admin/routes';
import { registerHealthRoutes } from './health';
import { toErrorAnswer } from './http-errors';
import { buildOpenApi } from './openapi';
import { registerPropletRoutes } from './proplets/routes';
import { ErrorJsonSchema, RouteTable } from './routes';
import { registerSiteRoutes } from './sites/routes';
import { registerTaskRoutes } from './tasks/routes';

/** Name of the projection that writes the `proplets` read model (served by the registry). */
export const PROPLETS_PROJECTION = 'proplets';
/** Default request body limit: 1 MiB (proplet writes use a smaller one; task uploads will set their own). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

// W3C trace context, version 00 shape; anything else is ignored rather than refused.
const TRACEPARENT_RE = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;
// A client's correlation id is kept when it is printable and short; otherwise the API makes one.
const CORRELATION_RE = /^[\x21-\x7e]{1,128}$/;

/** The configuration the API reads (a subset of `PropellerConfig`). */
export interface ApiConfig {
  api: {
    /** How long a write waits for its read model before answering 202 with `Location` (ms; config default 2 s). */
    readYourWritesTimeout: number;
  };
  /** `MODULE_MAX_BYTES`: the largest Wasm module a task upload may carry (default 16 MiB; larger answers 413). */
  moduleMaxBytes?: number;
}

/**
 * Hooks the tasks half of the API (issue 4) fills in. Each throws a typed error to refuse the request.
 */
export interface ApiHooks {
  /**
   * Called before `DELETE /proplets/{id}` sends `proplet.deregister`. The tasks issue makes it throw
   * `ConflictError` (409) while the scheduler says the proplet has unfinished tasks. Default: allows.
   */
  assertNoUnfinishedTasks?: (propletId: string) => Promise<void>;
}

/** What `buildApi` needs. It owns none of it: the caller closes `nc` and `db` after `close()`. */
export interface BuildApiOptions {
  /** The read-model database (a `createDb` pool, so read-your-writes waits are woken by LISTEN). */
  db: Kysely<ReadModelTables>;
  nc: NatsConnection;
  names: NatsNames;
  config: ApiConfig;
  logger: Logger;
  /** Where `/metrics` gauges go (default: a fresh registry with process metrics). */
  metrics?: Metrics;
  /** Checks `/health` runs besides NATS, Postgres and projections (default: none). */
  health?: Health;
  hooks?: ApiHooks;
  /** The clock (default: `new Date()`); used for command times and health ages. */
  now?: () => Date;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
}

/** Everything a route module needs. */
export interface ApiContext {
  readonly db: Kysely<ReadModelTables>;
  readonly nc: NatsConnection;
  readonly names: NatsNames;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly health: Health;
  readonly hooks: Required<ApiHooks>;
  readonly now: () => Date;
  readonly routes: RouteTable;
  /**
   * Sends a command; throws the typed error it answers with. The request's `traceparent` and
   * `x-correlation-id` headers (when well-formed) travel in the command's meta, so a trace or a
   * correlation id started by a client reaches the events; otherwise the correlation id is fresh.
   */
  send<N extends CommandName>(name: N, data: CommandDataInput<N>, request?: { headers: Record<string, string | string[] | undefined> }): Promise<CommandOk>;
  /**
   * Sends one command per `data` in one message (`sendCommands`, a batch) with the meta `send` would
   * give; each item's outcome in order, as `Promise.allSettled` of `send` would be.
   */
  sendMany<N extends CommandName>(
    name: N,
    data: ReadonlyArray<CommandDataInput<N>>,
    request?: { headers: Record<string, string | string[] | undefined> },
  ): Promise<Array<PromiseSettledResult<CommandOk>>>;
  /**
   * Read-your-writes: true once `projection` shows the command's effect (at once when it changed
   * nothing), false after the configured timeout (the route then answers 202 with `Location`).
   */
  settled(projection: string, reply: CommandOk): Promise<boolean>;
}

/** A built API: the Fastify instance (routes registered, not listening yet) and its route table. */
export interface Api {
  readonly app: FastifyInstance;
  readonly routes: RouteTable;
  /** Every route Fastify registered (method and path, HEAD excluded), however it was added: what `/openapi.json` must cover. */
  readonly registered: ReadonlyArray<{ method: string; url: string }>;
  /** The OpenAPI 3.1 document served at `/openapi.json`. */
  openApi(): Record<string, unknown>;
  /** Listens on `port` (0: any free port) and returns the port. */
  listen(port: number, host?: string): Promise<number>;
  /** Stops listening and answers the requests in flight; does not close `nc` or `db`. */
  close(): Promise<void>;
}

/**
 * Builds the REST API (snake_case, ARCHITECTURE.md "Names on each layer"): proplets and sites routes,
 * `/health`, `/metrics` and `/openapi.json`. Separate from `main.ts` so tests start it on port 0.
 */
export function buildApi(o: BuildApiOptions): Api {
  const now = o.now ?? (() => new Date());
  const app = Fastify({
    loggerInstance: o.logger as unknown as FastifyBaseLogger,
    // One line per request would be most of the log at heartbeat-driven polling rates; requests are counted in /metrics instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Ids are path segments; the registry accepts up to 200 UTF-8 bytes, percent-encoded that is longer.
    routerOptions: { maxParamLength: 1000 },
  });
  // Fastify's own list, so a route added around the RouteTable still shows up (and fails the OpenAPI test).
  const registered: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') registered.push({ method, url: r.url });
  });
  const routes = new RouteTable(app);
  const metrics = o.metrics ?? createMetrics();
  const health = o.health ?? createHealth();
  const timeoutMs = o.config.api.readYourWritesTimeout;

  // Bodies are JSON; an empty body is "no body" (a POST /cordon without a reason), not an error.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new InvalidError(`body: must be a JSON document (${(e as Error).message})`, [{ field: 'body', rule: 'must be a JSON document' }]), undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.status >= 500) request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
    return reply.code(answer.status).type('application/json').send(answer.body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NotFound', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: { method: request.method, path: request.url.split('?')[0] } } }),
  );

  const requests = metrics.counter({
    name: 'propeller_api_requests_total',
    help: 'REST requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
  });
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  /** A command's meta from the REST request: its well-formed `x-correlation-id` (else a fresh one) and `traceparent`. */
  const commandMeta = (request: { headers: Record<string, string | string[] | undefined> } | undefined) => {
    const header = (key: string): string | undefined => {
      const v = request?.headers[key];
      return typeof v === 'string' ? v.trim() : undefined;
    };
    const traceparent = header('traceparent');
    const correlationId = header('x-correlation-id');
    return {
      correlationId: correlationId !== undefined && CORRELATION_RE.test(correlationId) ? correlationId : randomUUID(),
      issuedAt: now().toISOString(),
      ...(traceparent !== undefined && TRACEPARENT_RE.test(traceparent) ? { traceparent } : {}),
    };
  };

  const ctx: ApiContext = {
    db: o.db,
    nc: o.nc,
    names: o.names,
    logger: o.logger,
    metrics,
    health,
    hooks: { assertNoUnfinishedTasks: o.hooks?.assertNoUnfinishedTasks ?? ((propletId) => assertNoUnfinishedTasks(o.db, propletId)) },
    now,
    routes,
    send(name, data, request) {
      const [aggregate, command] = name.split('.') as [string, string];
      return sendCommand(o.nc, o.names, aggregate, command, { meta: commandMeta(request), data });
    },
    sendMany(name, data, request) {
      const [aggregate, command] = name.split('.') as [string, string];
      const meta = commandMeta(request);
      return sendCommands(
        o.nc,
        o.names,
        aggregate,
        command,
        data.map((d) => ({ meta, data: d })),
      );
    },
    async settled(projection, reply) {
      // A command that changed nothing appended nothing: there is nothing to wait for.
      if (reply.sequences.length === 0) return true;
      return waitForSequence(o.db, projection, reply.lastSequence, timeoutMs);
    },
  };

  registerPropletRoutes(ctx);
  registerSiteRoutes(ctx);
  registerTaskRoutes(ctx, o.config.moduleMaxBytes === undefined ? {} : { moduleMaxBytes: o.config.moduleMaxBytes });
  registerAdminRoutes(ctx);
  registerHealthRoutes(ctx);

  const info = { title: 'Propeller API', version: '1', description: 'Proplets, sites, tasks and admin; snake_case; errors as {error: {code, message, details}}.' };
  let doc: Record<string, unknown> | undefined;
  const openApi = (): Record<string, unknown> => (doc ??= buildOpenApi(routes.routes, info));
  routes.add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'meta',
    responses: { 200: { description: 'The OpenAPI document', contentType: 'application/json' }, 500: { description: 'Internal error', schema: ErrorJsonSchema } },
    handler: async () => openApi(),
  });

  return {
    app,
    routes,
    registered,
    openApi,
    async listen(port, host = '0.0.0.0') {
      await app.listen({ port, host });
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error(`unexpected listen address ${String(address)}`);
      return address.port;
    },
    close: () => app.close(),
  };
}

// Postgres SQLSTATE 42P01: the `tasks` table is not there, i.e. the scheduler never ran on this schema.
const UNDEFINED_TABLE = '42P01';

/**
 * The default `assertNoUnfinishedTasks`: `ConflictError` (409) while the `tasks` read model shows tasks
 * scheduled or running on the proplet. With no `tasks` table yet (no scheduler ever ran here) there can
 * be no task on it, so the delete goes ahead.
 */
async function assertNoUnfinishedTasks(db: Kysely<ReadModelTables>, propletId: string): Promise<void> {
  let n: number;
  try {
    n = await countUnfinishedTasksOnProplet(db, propletId);
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === UNDEFINED_TABLE) return;
    throw e;
  }
  if (n > 0) {
    throw new ConflictError(`proplet ${propletId} has ${n} unfinished task${n === 1 ? '' : 's'}; stop or wait for them (or cordon it) before deleting it`, {
      details: { propletId, unfinishedTasks: n },
    });
  }
}
