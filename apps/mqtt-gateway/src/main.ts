import { natsNames } from '@propeller/events';
import { provision, provisionOptionsFrom } from '@propeller/eventstore';
import { connectNats, natsCheck, runService, startOwning } from '@propeller/service';
import { gatewayConfigFrom } from './config';
import { startGatewayDispatch } from './dispatch/wire';
import { startGateway } from './gateway';
import { ensureInbox } from './nats';

// The mqtt-gateway process: device messages in, registry commands, liveness, metrics and the inbox out.
void runService({
  name: 'mqtt-gateway',
  defaultMetricsPort: 9104,
  async start(ctx) {
    const { config, logger } = ctx;
    const gw = gatewayConfigFrom(config, process.env);
    const names = natsNames(config.nats.prefix);
    const nc = await connectNats(config.nats.url, `propeller-mqtt-gateway-${gw.replica}`);
    return startOwning({ nc }, async () => {
      const report = await provision(nc, names, provisionOptionsFrom(config.nats));
      const inbox = await ensureInbox(nc, names, config.nats.replicas);
      logger.info({ ...report, inbox }, 'NATS resources provisioned');
      const gateway = await startGateway({ config: gw, nc, names, metrics: ctx.metrics, logger });
      // Dispatch (issue 4): starts, stops, results and registry answers; stopped before the gateway.
      const dispatch = await startGatewayDispatch({ config: gw, nc, names, directory: gateway.directory, resultsInInbox: gateway.resultsInInbox, metrics: ctx.metrics, logger, moduleMaxBytes: config.moduleMaxBytes });
      ctx.health.register('mqtt', () => (gateway.mqttConnected() ? true : { status: 'fail', detail: 'MQTT broker not connected' }));
      ctx.health.register('nats', natsCheck(nc));
      return {
        async stop() {
          await dispatch.stop();
          await gateway.stop();
        },
      };
    });
  },
}).catch(() => {
  // runService has already logged the failure and set the exit status.
});
