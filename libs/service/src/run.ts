import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configEntries, isConfigError, loadConfig, type LoadedConfig, type PropellerConfig } from '@propeller/config';
import type { Logger, Metrics, Tracing } from '@propeller/telemetry';
import type { DestinationStream } from 'pino';
import { createHealth, type Health } from './health';

/** Exit status for a configuration error (EX_CONFIG from sysexits.h). */
export const EXIT_CONFIG = 78;
/** Exit status when start fails, an error escapes, or the graceful stop times out. */
export const EXIT_FAILURE = 1;

/** What a service's `start` receives. */
export interface ServiceContext {
  /** The whole typed configuration (sections a service does not use are harmless). */
  readonly config: PropellerConfig;
  readonly logger: Logger;
  /** This service's Prometheus registry, served at `/metrics`. */
  readonly metrics: Metrics;
  /** Register checks here; `/health` reports them. */
  readonly health: Health;
  /** Aborted when the service begins to stop (SIGTERM/SIGINT, a fatal error). */
  readonly signal: AbortSignal;
  readonly tracing: Tracing;
}

/** A started service. `stop` must release everything (connections, timers) so the process can end. */
export interface RunningService {
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  /** Service name, on every log line and metric. */
  name: string;
  /** Port of `/health` and `/metrics` unless `metricsPort` is configured. */
  defaultMetricsPort: number;
  /** Serve `/health` and `/metrics` on `metricsPort` (default true; the api serves them on its own port). */
  serveHttp?: boolean;
  start(ctx: ServiceContext): Promise<RunningService>;
}

/** The process around a service; tests replace parts of it to run a service in-process. */
export interface ServiceIo {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  exit(code: number): void;
  stderr: { write(text: string): unknown };
  /** Where JSON logs go (default stdout). */
  logDestination?: DestinationStream;
  /** Install SIGTERM/SIGINT and uncaught-error handlers (default true). */
  handleProcessEvents: boolean;
}

/** A running service, as `runService` returns it once `start` has resolved. */
export interface ServiceHandle {
  readonly ctx: ServiceContext;
  /** The port `/health` and `/metrics` listen on (useful with `METRICS_PORT=0`); undefined without HTTP. */
  readonly port: number | undefined;
  /** Stops the service as SIGTERM does; resolves with the exit status it passed to `exit`. */
  shutdown(reason: string): Promise<number>;
}

function defaultIo(): ServiceIo {
  return { env: process.env, cwd: process.cwd(), exit: (code) => process.exit(code), stderr: process.stderr, handleProcessEvents: true };
}

/**
 * The bootstrap every service's `main.ts` calls: loads the config (a bad value exits with status 78 and
 * every problem on stderr, as JSON and as text, before anything connects), logs the effective
 * configuration with its sources (secrets masked), serves `/health` and `/metrics`, starts the service,
 * and stops it gracefully on SIGTERM/SIGINT within `shutdownTimeout`. In a real process it never
 * rejects: every failure is logged and ends in `process.exit` (78 config, 1 otherwise).
 */
export async function runService(def: ServiceDefinition, ioOverrides: Partial<ServiceIo> = {}): Promise<ServiceHandle> {
  const io: ServiceIo = { ...defaultIo(), ...ioOverrides };

  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ env: io.env, cwd: io.cwd, service: def.name, defaults: { metricsPort: def.defaultMetricsPort } });
  } catch (e) {
    reportStartupError(io, def.name, e);
    io.exit(EXIT_CONFIG);
    throw e;
  }
  const { config } = loaded;
  // Loaded only now: a bad config exits before pino, prom-client and the OpenTelemetry SDK are even
  // evaluated, which keeps "a bad value stops the service within 2 s" true on a loaded machine.
  const { createLogger, createMetrics, startTracing } = await import('@propeller/telemetry');

  const logger = createLogger(def.name, config.logLevel, io.logDestination ? { destination: io.logDestination } : {});
  logger.info(
    {
      configFile: loaded.file,
      config: Object.fromEntries(configEntries(config, loaded.sources).map(({ key, ...rest }) => [key, rest])),
    },
    'effective configuration',
  );
  for (const w of loaded.warnings) logger.warn({ warning: w }, 'configuration warning');

  const tracing = await startTracing({ ...config.otel, serviceName: config.otel.serviceName ?? def.name });
  for (const w of tracing.warnings) logger.warn({ warning: w }, 'tracing warning');
  const metrics = createMetrics({ labels: { service: def.name } });
  const health = createHealth();
  const abort = new AbortController();
  const ctx: ServiceContext = { config, logger, metrics, health, signal: abort.signal, tracing };

  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  health.register('service', () => (phase === 'running' ? true : { status: 'fail', detail: phase }));

  let server: Server | undefined;
  let port: number | undefined;
  if (def.serveHttp ?? true) {
    server = createServer((req, res) => void serveHttp(req, res, health, metrics, logger));
    const wanted = config.metricsPort ?? def.defaultMetricsPort;
    try {
      port = await listen(server, wanted);
    } catch (e) {
      logger.fatal({ err: e, port: wanted }, 'cannot serve /health and /metrics');
      reportStartupError(io, def.name, e);
      await tracing.shutdown().catch(() => undefined);
      logger.flush();
      io.exit(EXIT_FAILURE);
      throw e;
    }
    logger.info({ port }, 'serving /health and /metrics');
  }

  let running: RunningService | undefined;
  let starting: Promise<RunningService> | undefined;
  let stopping: Promise<number> | undefined;

  const shutdown = (reason: string, code = 0): Promise<number> => {
    if (stopping) return stopping;
    phase = 'stopping';
    logger.info({ reason }, 'stopping');
    abort.abort(reason);
    stopping = (async () => {
      let status = code;
      const work = (async () => {
        // A stop requested while start is still running waits for it, then stops what it started.
        const target = running ?? (starting ? await starting.catch(() => undefined) : undefined);
        await target?.stop();
      })();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        work.then(
          () => 'stopped' as const,
          (e: unknown) => {
            logger.error({ err: e }, 'stop failed');
            return 'failed' as const;
          },
        ),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), config.shutdownTimeout);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') logger.error({ shutdownTimeoutMs: config.shutdownTimeout }, 'did not stop in time; exiting anyway');
      if (outcome !== 'stopped') status = EXIT_FAILURE;
      await closeServer(server);
      await tracing.shutdown().catch((e: unknown) => logger.warn({ err: e }, 'tracing shutdown failed'));
      logger.info({ exitCode: status }, 'stopped');
      logger.flush();
      io.exit(status);
      return status;
    })();
    return stopping;
  };

  if (io.handleProcessEvents) installProcessHandlers(logger, shutdown, io);

  try {
    starting = def.start(ctx);
    running = await starting;
  } catch (e) {
    logger.fatal({ err: e }, 'start failed');
    reportStartupError(io, def.name, e);
    await shutdown('start failed', EXIT_FAILURE);
    throw e;
  }
  if (stopping) {
    // A signal arrived during start; shutdown() is already stopping what start returned.
    await stopping;
  } else {
    phase = 'running';
    logger.info('started');
  }
  return { ctx, port, shutdown: (reason) => shutdown(reason) };
}

function installProcessHandlers(logger: Logger, shutdown: (reason: string, code?: number) => Promise<number>, io: ServiceIo): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // A second signal means the operator is done waiting.
      logger.warn({ signal }, 'second signal; exiting now');
      logger.flush();
      io.exit(EXIT_FAILURE);
      return;
    }
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Log instead of dying silently, then stop gracefully: the process state is unknown, so it does not go on.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', EXIT_FAILURE);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    void shutdown('unhandledRejection', EXIT_FAILURE);
  });
}

/** Writes a startup error to stderr as one JSON line and as plain text, without the logger (it may not exist yet). */
function reportStartupError(io: ServiceIo, service: string, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  const line: Record<string, unknown> = { level: 'fatal', time: new Date().toISOString(), service, msg: isConfigError(e) ? 'invalid configuration' : 'start failed', error: message };
  if (isConfigError(e)) line['issues'] = e.issues;
  io.stderr.write(`${JSON.stringify(line)}\n${service}: ${message}\n`);
}

async function serveHttp(req: IncomingMessage, res: ServerResponse, health: Health, metrics: Metrics, logger: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  try {
    if (req.method === 'GET' && path === '/health') {
      const report = await health.report();
      send(res, report.status === 'pass' ? 200 : 503, 'application/json', JSON.stringify(report));
    } else if (req.method === 'GET' && path === '/metrics') {
      send(res, 200, metrics.contentType, await metrics.metricsText());
    } else {
      send(res, 404, 'application/json', JSON.stringify({ error: 'not found' }));
    }
  } catch (e) {
    logger.error({ err: e, path }, 'health/metrics request failed');
    send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
