import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { createDb } from '@propeller/projections';
import type { ReadModelTables } from '@propeller/read-models';
import { connectNats, runService } from '@propeller/service';
import { startRegistry } from './service';

// The registry process: single writer of the Proplet and Site aggregates and of the `proplets` read model.
void runService({
  name: 'registry',
  defaultMetricsPort: 9101,
  async start(ctx) {
    const { config, logger } = ctx;
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, 'propeller-registry');
    const db = createDb<ReadModelTables>({ url: config.database.url, schema: config.database.schema, poolMax: config.database.poolMax });
    try {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      logger.info(report, 'NATS resources provisioned');
      const registry = await startRegistry({ nc, names, db, registry: ctx.metrics.registry, logger });
      ctx.health.register('nats', registry.checks.nats);
      ctx.health.register('postgres', registry.checks.postgres);
      ctx.health.register('projections', registry.checks.projections);
      return {
        async stop() {
          await registry.stop();
          await nc.drain();
          await db.destroy();
        },
      };
    } catch (e) {
      await nc.close().catch(() => undefined);
      await db.destroy().catch(() => undefined);
      throw e;
    }
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
