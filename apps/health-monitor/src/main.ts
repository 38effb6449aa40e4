import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { connectNats, runService, startOwning } from '@propeller/service';
import { startHealthMonitor } from './monitor';

// The health-monitor process: the only judge of proplet health (a singleton by the health-judge lease; every replica follows along).
void runService({
  name: 'health-monitor',
  defaultMetricsPort: 9103,
  async start(ctx) {
    const { config, logger } = ctx;
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, 'propeller-health-monitor');
    return startOwning({ nc }, async () => {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      logger.info(report, 'NATS resources provisioned');
      const hm = config.healthMonitor;
      if (config.nats.leaseTtl > hm.checkInterval) {
        logger.warn({ leaseTtl: config.nats.leaseTtl, checkInterval: hm.checkInterval }, 'nats.leaseTtl exceeds the check interval: a standby takes over only after the lease expires');
      }
      const monitor = await startHealthMonitor({
        nc,
        names,
        checkIntervalMs: hm.checkInterval,
        thresholds: { offlineMs: hm.offlineThreshold, failureMs: hm.failureThreshold },
        breaker: { share: hm.breaker.share, windowMs: hm.breaker.window },
        autoEvacuateTasks: hm.autoEvacuateTasks,
        metrics: ctx.metrics,
        logger,
        holder: `health-monitor/${process.pid}`,
      });
      ctx.health.register('nats', monitor.checks.nats);
      return monitor;
    });
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
