import { natsNames } from '@propeller/events';
import { createDb } from '@propeller/projections';
import type { ReadModelTables } from '@propeller/read-models';
import { connectNats, runService, startOwning } from '@propeller/service';
import { buildApi } from './app';

// The api process: REST on api.port (PORT, default 7070), with /health and /metrics on the same port.
void runService({
  name: 'api',
  defaultMetricsPort: 7070,
  // /health and /metrics are routes of the API itself (ARCHITECTURE.md "Ports and observability").
  serveHttp: false,
  async start(ctx) {
    const { config, logger } = ctx;
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, 'propeller-api');
    // The API only reads: a small pool is enough, and Postgres connections are shared by every service.
    const db = createDb<ReadModelTables>({
      url: config.database.url,
      schema: config.database.schema,
      poolMax: Math.min(config.database.poolMax, 3),
      onError: (e) => logger.warn({ err: e }, 'idle Postgres connection failed'),
    });
    return startOwning({ nc, db }, async () => {
      const api = buildApi({ db, nc, names, config, logger, metrics: ctx.metrics, health: ctx.health });
      const port = await api.listen(config.api.port);
      logger.info({ port }, 'serving the REST API');
      return { stop: () => api.close() };
    });
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
