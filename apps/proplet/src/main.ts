/**
 * The proplet process: `tsx apps/proplet/src/main.ts` (or the bundled image). Configuration from the
 * environment and config.yaml (see agent/config.ts); SIGTERM/SIGINT drain and exit 0.
 */
import { loadConfig } from '@propeller/config';
import { PropletAgent } from './agent/agent';
import { propletConfigFrom } from './agent/config';
import { readCapacity, readHostInfo } from './agent/host';
import { startHttp } from './agent/http';
import { createPropletLogger } from './agent/log';
import { createPropletMetrics } from './agent/metrics';
import { ModuleStore } from './modules/store';
import { TaskRunner } from './runner';
import { Sandbox } from './sandbox/sandbox';

async function main(): Promise<void> {
  let config;
  try {
    const shared = loadConfig({ env: process.env, cwd: process.cwd(), service: 'proplet' });
    config = propletConfigFrom(shared.config, process.env, readCapacity);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
  const logger = createPropletLogger(config.logLevel, { proplet_id: config.propletId });
  logger.info(
    { ...config, mqtt: { ...config.mqtt, ...(config.mqtt.password ? { password: '****' } : {}) } },
    'configuration',
  );

  // The store fetches registry modules through the agent, which needs the runner that holds the store.
  const agentRef: { current?: PropletAgent } = {};
  const store = new ModuleStore({
    memoryMaxBytes: config.taskMemoryMaxBytes,
    maxModuleBytes: config.moduleMaxBytes,
    cacheBytes: config.moduleCacheBytes,
    registry: (name) => {
      if (!agentRef.current) throw new Error('registry used before the agent started');
      return agentRef.current.fetchFromRegistry(name);
    },
  });
  const runner = new TaskRunner(store, new Sandbox({ maxTasks: config.maxTasks, timeoutMs: config.taskTimeoutMs }));
  const metrics = createPropletMetrics(config.propletId, () => runner.activeCount);
  const a = new PropletAgent({ config, runner, host: readHostInfo(), logger, metrics });
  agentRef.current = a;
  const server = await startHttp(config.httpPort, () => ({ propletId: config.propletId, connected: a.connected, draining: a.isDraining, running: runner.activeCount }), metrics);
  logger.info({ port: config.httpPort }, 'http listening (/health, /metrics)');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    a.shutdown()
      .then(({ drained }) => {
        logger.info({ drained }, 'stopped');
        server.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    await a.start();
  } catch (err) {
    logger.error({ broker: config.mqtt.url, err: err instanceof Error ? err.message : String(err) }, 'cannot connect to the MQTT broker');
    process.exit(1);
  }
}

void main();
