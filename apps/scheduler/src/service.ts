import { natsCheck, postgresCheck, type HealthCheck } from '@propeller/service';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { NatsNames } from '@propeller/events';
import { EventStore, RecentEvents, type CommandContext } from '@propeller/eventstore';
import { migrate, projectionsCheck, serveProjections, waitForSequence, type ProjectionRunner, type RunnerLogger } from '@propeller/projections';
import { readModelMigrations, type TasksTables } from '@propeller/read-models';
import type { PolicyName } from '@propeller/scheduling';
import { serveTaskCommands } from './commands/serve';
import { PlacementLoop } from './placement/loop';
import { TASKS_PROJECTION, tasksProjection } from './read-model/projection';

/** Name of the counter of answered task commands, by command and outcome (`ok` or an error code). */
export const COMMANDS_METRIC = 'propeller_scheduler_commands_total';
/** Name of the gauge of events this process appended and read back from memory (`RecentEvents`), by outcome. */
export const RECENT_EVENTS_METRIC = 'propeller_scheduler_recent_events';
/** Name of the histogram of task durations (start request to end), by final status. */
export const TASK_DURATION_METRIC = 'propeller_task_duration_seconds';

/** What the scheduler needs; the NATS resources of `names` must be provisioned already. */
export interface StartSchedulerOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** The read-model database (a `createDb` pool, so `waitForSequence` can LISTEN). */
  db: Kysely<TasksTables>;
  /** Prometheus registry for the command counter, the duration histogram and the projection gauges. */
  registry: Registry;
  logger?: RunnerLogger;
  /** `SCHEDULER_TYPE` (default `hybrid`). */
  policy?: PolicyName;
  computeKeywords?: readonly string[];
  edgeKeywords?: readonly string[];
  loadBalancingRatio?: number;
  /** `healthMonitor.autoEvacuateTasks` (default true). */
  autoEvacuateTasks?: boolean;
  /** `MODULE_MAX_BYTES` (default 16 MiB). */
  moduleMaxBytes?: number;
  /** `TASK_RETENTION` in ms: finished tasks are archived and purged this long after they end (default: never). */
  retentionMs?: number;
  /** Lease holder name shown to operators (default `<hostname>/<pid>`). */
  holder?: string;
  /** How often a standby projection checks its lease (default 1000 ms). */
  standbyPollMs?: number;
  /** Backoff after a transient projection failure (default 1000 ms). */
  retryMs?: number;
}

/** A started scheduler: its placement loop, projection runner, health checks and a graceful stop. */
export interface RunningScheduler {
  readonly loop: PlacementLoop;
  readonly runner: ProjectionRunner;
  readonly checks: Readonly<Record<'nats' | 'postgres' | 'projections', HealthCheck>>;
  /** Stops taking commands (answering those in flight), releases the placement lease and stops the projection. */
  stop(): Promise<void>;
}

const metric = <M>(registry: Registry, name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();

/**
 * Starts the scheduler in this process: migrates the `tasks` read model, serves every `task.*`
 * command, runs the placement loop (active in the replica holding the `scheduler` lease) and the
 * `tasks` projection (active in the replica holding `projection.tasks`). It does not own `nc` or
 * `db`: the caller closes them after `stop()`.
 */
export async function startScheduler(o: StartSchedulerOptions): Promise<RunningScheduler> {
  await migrate(o.db, { migrations: readModelMigrations });
  const leases = await new Kvm(o.nc).open(o.names.kv.leases);
  const modules = await new Objm(o.nc).open(o.names.modules);
  // What the command handlers append, the placement loop and the `tasks` projection (both readers) read back
  // from memory instead of decoding and checking it twice more.
  const recent = new RecentEvents({ readers: 2 });
  const store = new EventStore(o.nc, o.names, { recent });
  metric(
    o.registry,
    RECENT_EVENTS_METRIC,
    () =>
      new Gauge({
        name: RECENT_EVENTS_METRIC,
        help: 'Events the placement loop and the tasks projection read back from memory (hit) or decoded (miss) since the start',
        labelNames: ['outcome'],
        registers: [o.registry],
        collect() {
          const { hits, misses } = recent.stats();
          this.set({ outcome: 'hit' }, hits);
          this.set({ outcome: 'miss' }, misses);
        },
      }),
  );
  const answered = metric(
    o.registry,
    COMMANDS_METRIC,
    () => new Counter({ name: COMMANDS_METRIC, help: 'Task commands answered, by command and outcome', labelNames: ['command', 'outcome'], registers: [o.registry] }),
  );
  const duration = metric(
    o.registry,
    TASK_DURATION_METRIC,
    () =>
      new Histogram({
        name: TASK_DURATION_METRIC,
        help: 'Seconds from a task start request to its end, by final status',
        labelNames: ['status'],
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
        registers: [o.registry],
      }),
  );
  const onInternalError = (error: unknown, ctx: CommandContext): void => o.logger?.error({ err: error, subject: ctx.subject }, 'command failed unexpectedly');
  // The command server and the placement loop know each other: the leader places inside start
  // commands, and the loop's own commands run in-process (ADR 0025).
  const late: { loop?: PlacementLoop } = {};
  const commands = serveTaskCommands({
    nc: o.nc,
    names: o.names,
    store,
    leases,
    modules,
    ...(o.moduleMaxBytes === undefined ? {} : { moduleMaxBytes: o.moduleMaxBytes }),
    onAnswered: (command, outcome) => answered.inc({ command, outcome }),
    onInternalError,
    placer: {
      holds: (token) => late.loop?.holds(token) ?? false,
      placeStarted: (taskId, state) => late.loop?.placeStarted(taskId, state) ?? Promise.resolve(undefined),
    },
  });
  const loop = new PlacementLoop({
    nc: o.nc,
    names: o.names,
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.computeKeywords ? { computeKeywords: o.computeKeywords } : {}),
    ...(o.edgeKeywords ? { edgeKeywords: o.edgeKeywords } : {}),
    ...(o.loadBalancingRatio === undefined ? {} : { loadBalancingRatio: o.loadBalancingRatio }),
    ...(o.autoEvacuateTasks === undefined ? {} : { autoEvacuateTasks: o.autoEvacuateTasks }),
    ...(o.holder ? { holder: o.holder } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    onFinished: (status, seconds) => duration.observe({ status }, seconds),
    ...(o.retentionMs === undefined ? {} : { retentionMs: o.retentionMs }),
    recent,
    projected: (seq) => waitForSequence(o.db, TASKS_PROJECTION, seq, 10_000),
    purge: (taskId) => store.purge('task', taskId),
    execute: (command, request) => commands.execute(command, request),
    onActive: () => commands.serveLeader(),
    onInactive: () => void commands.stopLeader(),
  });
  late.loop = loop;
  await loop.start();
  const projections = serveProjections({ nc: o.nc, names: o.names, db: o.db, projections: [tasksProjection], recent, registry: o.registry, logger: o.logger, standbyPollMs: o.standbyPollMs, retryMs: o.retryMs });
  const { runner } = projections;
  return {
    loop,
    runner,
    checks: { nats: natsCheck(o.nc), postgres: postgresCheck(o.db), projections: projectionsCheck(runner) },
    async stop() {
      // Commands first: nothing new is appended while the loop and the projection wind down.
      await commands.stop();
      await loop.stop();
      await projections.stop();
    },
  };
}
