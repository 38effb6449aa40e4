import { natsCheck, postgresCheck, type HealthCheck } from '@propeller/service';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { Counter, type Registry } from 'prom-client';
import type { NatsNames } from '@propeller/events';
import { EventStore, type CommandContext } from '@propeller/eventstore';
import { migrate, projectionsCheck, serveProjections, type ProjectionRunner, type RunnerLogger } from '@propeller/projections';
import { readModelMigrations, type ReadModelTables } from '@propeller/read-models';
import { serveRegistryCommands, type RegistryCommands } from './commands/serve';
import { propletsProjection } from './read-model/projection';

/** Name of the counter of answered commands, by command and outcome (`ok` or an error code). */
export const COMMANDS_METRIC = 'propeller_registry_commands_total';

/** What the registry needs; the NATS resources of `names` must be provisioned already. */
export interface StartRegistryOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** The read-model database (a `createDb` pool, so `waitForSequence` can LISTEN). */
  db: Kysely<ReadModelTables>;
  /** Prometheus registry for the command counter and `propeller_projection_stalled`. */
  registry: Registry;
  logger?: RunnerLogger;
  /** How often a standby projection checks its lease (default 1000 ms). */
  standbyPollMs?: number;
  /** Backoff after a transient projection failure (default 1000 ms). */
  retryMs?: number;
  /** Conflict retries per command (default 5). */
  maxRetries?: number;
}

/** A started registry: its projection runner, its health checks, and a graceful stop. */
export interface RunningRegistry {
  readonly runner: ProjectionRunner;
  /** NATS connected, Postgres answering, and the `proplets` projection not stalled. */
  readonly checks: Readonly<Record<'nats' | 'postgres' | 'projections', HealthCheck>>;
  /** Stops taking commands (answering those in flight), stops the projection and releases its lease. */
  stop(): Promise<void>;
}

/**
 * Starts the registry in this process: migrates the read model, serves every `proplet.*` and
 * `site.*` command, and runs the `proplets` projection (active in the replica holding its lease).
 * It does not own `nc` or `db`: the caller closes them after `stop()`.
 */
export async function startRegistry(o: StartRegistryOptions): Promise<RunningRegistry> {
  await migrate(o.db, { migrations: readModelMigrations });
  const leases = await new Kvm(o.nc).open(o.names.kv.leases);
  const store = new EventStore(o.nc, o.names);
  const answered =
    (o.registry.getSingleMetric(COMMANDS_METRIC) as Counter<'command' | 'outcome'> | undefined) ??
    new Counter({ name: COMMANDS_METRIC, help: 'Registry commands answered, by command and outcome', labelNames: ['command', 'outcome'], registers: [o.registry] });
  const onInternalError = (error: unknown, ctx: CommandContext): void => o.logger?.error({ err: error, subject: ctx.subject }, 'command failed unexpectedly');
  const commands: RegistryCommands = serveRegistryCommands({
    nc: o.nc,
    names: o.names,
    store,
    leases,
    ...(o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries }),
    onAnswered: (command, outcome) => answered.inc({ command, outcome }),
    onInternalError,
  });
  const projections = serveProjections({ nc: o.nc, names: o.names, db: o.db, projections: [propletsProjection], registry: o.registry, logger: o.logger, standbyPollMs: o.standbyPollMs, retryMs: o.retryMs });
  const { runner } = projections;
  return {
    runner,
    checks: { nats: natsCheck(o.nc), postgres: postgresCheck(o.db), projections: projectionsCheck(runner) },
    async stop() {
      // Commands first: nothing new is appended while the projection winds down.
      await commands.stop();
      await projections.stop();
    },
  };
}
