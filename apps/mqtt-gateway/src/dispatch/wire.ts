import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsNames } from '@propeller/events';
import type { Metrics } from '@propeller/telemetry';
import { connect, type MqttClient } from 'mqtt';
import type { GatewayConfig } from '../config';
import type { GatewayLogger } from '../gateway';
import { RECONNECT_MIN_MS } from '../mqtt-link';
import { startDispatcher, type DispatchDirectory, type RunningDispatcher, type StartDispatcherOptions } from './dispatcher';

/** What the gateway process hands to dispatch. */
export interface GatewayDispatchOptions {
  config: GatewayConfig;
  nc: NatsConnection;
  names: NatsNames;
  directory: DispatchDirectory;
  metrics: Metrics;
  logger: GatewayLogger;
  /** `MODULE_MAX_BYTES` (default 16 MiB). */
  moduleMaxBytes?: number;
  /** The gateway's record of results in the inbox (`RunningGateway.resultsInInbox`). */
  resultsInInbox?: StartDispatcherOptions['resultsInInbox'];
}

/** Dispatch running inside a gateway replica. */
export interface GatewayDispatch {
  readonly dispatcher: RunningDispatcher;
  /** Stops consuming, then closes the publishing connection. */
  stop(): Promise<void>;
}

/**
 * Starts dispatch for a gateway replica on its own MQTT connection (`<clientId>-dispatch`, clean session,
 * same broker, credentials, TLS and protocol version). Not the persistent session: that one reads its
 * QoS 1 messages one at a time and is gated by their handling, and starts must not wait behind results.
 */
export async function startGatewayDispatch(o: GatewayDispatchOptions): Promise<GatewayDispatch> {
  const c = o.config;
  const client: MqttClient = connect(c.broker, {
    clientId: `${c.clientId}-dispatch`,
    clean: true,
    protocolVersion: c.protocolVersion,
    reconnectPeriod: RECONNECT_MIN_MS,
    connectTimeout: 10_000,
    keepalive: 30,
    ...(c.username === undefined ? {} : { username: c.username }),
    ...(c.password === undefined ? {} : { password: c.password }),
    ...(c.tls.ca === undefined ? {} : { ca: c.tls.ca }),
    ...(c.tls.cert === undefined ? {} : { cert: c.tls.cert }),
    ...(c.tls.key === undefined ? {} : { key: c.tls.key }),
  });
  client.on('error', (err) => o.logger.warn({ err: err.message }, 'dispatch mqtt error'));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dispatch: no MQTT connection within 15000 ms')), 15_000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await client.endAsync(true).catch(() => undefined);
    throw e;
  });
  let dispatcher: RunningDispatcher;
  try {
    dispatcher = await startDispatcher({
      nc: o.nc,
      names: o.names,
      publisher: client,
      protocolVersion: c.protocolVersion,
      directory: o.directory,
      logger: o.logger,
      metrics: o.metrics,
      ...(o.moduleMaxBytes === undefined ? {} : { moduleMaxBytes: o.moduleMaxBytes }),
      ...(o.resultsInInbox === undefined ? {} : { resultsInInbox: o.resultsInInbox }),
    });
  } catch (e) {
    await client.endAsync(true).catch(() => undefined);
    throw e;
  }
  return {
    dispatcher,
    async stop() {
      await dispatcher.stop();
      await client.endAsync(false);
    },
  };
}
