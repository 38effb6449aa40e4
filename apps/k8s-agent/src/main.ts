import { hostname } from 'node:os';
import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { connectNats, runService } from '@propeller/service';
import { serveProbes } from './adapter/http';
import { KubeApi } from './adapter/kube';
import { loadKubeConfig } from './adapter/kubeconfig';
import { NatsPropellerPort } from './adapter/nats-propeller';
import { Operator } from './adapter/operator';
import { DEFAULT_RECONCILE_CONFIG } from './reconcile/config';

// The k8s-agent process: the Kubernetes operator for Proplet and Task custom resources, talking to
// Propeller through the NATS PropellerPort.
void runService({
  name: 'k8s-agent',
  defaultMetricsPort: 8080,
  async start(ctx) {
    const { config, logger } = ctx;
    // Credentials first: without them there is nothing to reconcile, so fail before connecting anywhere.
    const kc = loadKubeConfig();
    const identity = process.env['POD_NAME'] ?? hostname();
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, 'propeller-k8s-agent');
    let port: NatsPropellerPort | undefined;
    try {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      logger.info(report, 'NATS resources provisioned');
      // The view folds the whole log before the operator plans anything, so a restart sees every task it made.
      port = await NatsPropellerPort.start({ nc, names, writer: identity, layout: config.mqtt.layout, log: logger });
      const operator = new Operator({
        kube: new KubeApi(kc, config.k8s.namespace),
        port,
        config: {
          ...DEFAULT_RECONCILE_CONFIG,
          mqttBroker: config.mqtt.broker,
          domainId: config.mqtt.domainId,
          channelId: config.mqtt.channelId,
        },
        identity,
        leaseNamespace: process.env['POD_NAMESPACE'] ?? 'propeller-system',
        log: logger,
        registry: ctx.metrics.registry,
      });
      const probes = await serveProbes({ live: () => !ctx.signal.aborted, ready: () => operator.ready }, config.k8s.probePort);
      ctx.health.register('informers', () => (operator.ready ? true : { status: 'fail', detail: 'informers not synced' }));
      const view = port;
      ctx.health.register('nats', () => (nc.isClosed() ? { status: 'fail', detail: 'connection closed' } : true));
      ctx.health.register('events', () => (view.following ? true : { status: 'fail', detail: `event consumer ended at sequence ${view.sequence}` }));
      await operator.start();
      logger.info({ namespace: config.k8s.namespace, probePort: probes.port, leader: operator.isLeader, cluster: kc.getCurrentCluster()?.server }, 'k8s-agent started');
      const started = port;
      return {
        async stop() {
          await operator.stop();
          await probes.close();
          await started.stop();
          await nc.drain();
        },
      };
    } catch (e) {
      await port?.stop().catch(() => undefined);
      await nc.close().catch(() => undefined);
      throw e;
    }
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
