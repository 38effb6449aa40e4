import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { InternalError } from '@propeller/events';
import { runService } from '@propeller/service';
import { serveProbes } from './adapter/http';
import { KubeApi } from './adapter/kube';
import { Operator } from './adapter/operator';
import type { PropellerPort } from './port/propeller-port';
import { DEFAULT_RECONCILE_CONFIG } from './reconcile/config';

/**
 * TODO(issue 7): the NATS implementation of PropellerPort — commands `<p>.commands.proplet.*` and
 * `<p>.commands.task.*` to the registry and scheduler, proplet and task events for `subscribe`,
 * and `<p>_liveness` KV writes for pod readiness. Until it exists the operator refuses to start
 * rather than run against a fake.
 */
function createPropellerPort(): PropellerPort {
  throw new InternalError('the NATS PropellerPort is not implemented yet (issue 7); the operator cannot start without it');
}

// The k8s-agent process: the Kubernetes operator for Proplet and Task custom resources.
void runService({
  name: 'k8s-agent',
  defaultMetricsPort: 8080,
  async start(ctx) {
    const { config, logger } = ctx;
    const kc = new KubeConfig();
    // In a pod: the ServiceAccount of deploy/rbac.yaml; elsewhere: KUBECONFIG or ~/.kube/config.
    if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
    const port = createPropellerPort();
    const operator = new Operator({
      kube: new KubeApi(kc, config.k8s.namespace),
      port,
      config: {
        ...DEFAULT_RECONCILE_CONFIG,
        mqttBroker: config.mqtt.broker,
        domainId: config.mqtt.domainId,
        channelId: config.mqtt.channelId,
      },
      identity: process.env['POD_NAME'] ?? hostname(),
      leaseNamespace: process.env['POD_NAMESPACE'] ?? 'propeller-system',
      log: logger,
      registry: ctx.metrics.registry,
    });
    const probes = await serveProbes({ live: () => !ctx.signal.aborted, ready: () => operator.ready }, config.k8s.probePort);
    ctx.health.register('informers', () => (operator.ready ? true : { status: 'fail', detail: 'informers not synced' }));
    await operator.start();
    logger.info({ namespace: config.k8s.namespace, probePort: probes.port, leader: operator.isLeader }, 'k8s-agent started');
    return {
      async stop() {
        await operator.stop();
        await probes.close();
      },
    };
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
