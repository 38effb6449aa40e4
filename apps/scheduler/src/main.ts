import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { createDb } from '@propeller/projections';
import type { TasksTables } from '@propeller/read-models';
import { connectNats, runService, startOwning } from '@propeller/service';
import { startScheduler } from './service';

// The scheduler process: single writer of the Task aggregate and of the `tasks` read model; the
// placement loop runs in the replica holding the `scheduler` lease.
void runService({
  name: 'scheduler',
  defaultMetricsPort: 9102,
  async start(ctx) {
    const { config, logger } = ctx;
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, 'propeller-scheduler');
    const db = createDb<TasksTables>({ url: config.database.url, schema: config.database.schema, poolMax: config.database.poolMax });
    return startOwning({ nc, db }, async () => {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      logger.info(report, 'NATS resources provisioned');
      const scheduler = await startScheduler({
        nc,
        names,
        db,
        registry: ctx.metrics.registry,
        logger,
        policy: config.scheduler.type,
        computeKeywords: config.scheduler.computeKeywords,
        edgeKeywords: config.scheduler.edgeKeywords,
        loadBalancingRatio: config.scheduler.loadBalancingRatio,
        autoEvacuateTasks: config.healthMonitor.autoEvacuateTasks,
        moduleMaxBytes: config.moduleMaxBytes,
        retentionMs: config.taskRetention,
      });
      for (const [name, check] of Object.entries(scheduler.checks)) ctx.health.register(name, check);
      return scheduler;
    });
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
