import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { createDb } from '@propeller/projections';
import type { ReadModelTables } from '@propeller/read-models';
import { connectNats, runService, startOwning } from '@propeller/service';
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
    return startOwning({ nc, db }, async () => {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      logger.info(report, 'NATS resources provisioned');
      const registry = await startRegistry({ nc, names, db, registry: ctx.metrics.registry, logger });
      for (const [name, check] of Object.entries(registry.checks)) ctx.health.register(name, check);
      return registry;
    });
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
