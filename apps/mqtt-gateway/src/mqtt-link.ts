import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { gatewaySubscriptions, type Subscription } from '@propeller/mqtt-protocol';
import type { GatewayConfig } from './config';

/** Topic of a replica's own status; the broker publishes `{"replica", "connected": false}` there when the replica dies (its last-will). */
export const gatewayStatusTopic = (domainId: string, replica: string): string => `m/${domainId}/gateway/${replica}/status`;

/** First and longest delay between reconnection attempts (1 s doubling to 30 s). */
export const RECONNECT_MIN_MS = 1_000;
export const RECONNECT_MAX_MS = 30_000;

/** Handles one message; the returned promise gates reading the next message of that connection. */
export type MessageHandler = (topic: string, payload: Buffer, qos: number) => Promise<void>;

/** Callbacks of the link. */
export interface LinkEvents {
  onConnectionChange(connected: boolean, which: 'session' | 'heartbeats'): void;
  onError(err: Error, which: 'session' | 'heartbeats'): void;
}

/**
 * The gateway's two MQTT connections. `session` is the persistent session (fixed client id,
 * `clean: false`, MQTT 5 session expiry) subscribed to the QoS 1 kinds: a message is acknowledged
 * only after the gateway handled it, so results and creates survive a gateway restart. `heartbeats`
 * is a clean session subscribed to the QoS 0 kinds (alive, metrics): when a replica dies its shared
 * subscriptions go with it at once, so the surviving replicas receive every heartbeat (a dead persistent
 * session would keep its round-robin share, and QoS 0 messages to it are dropped). ADR 0006.
 */
export class MqttLink {
  readonly session: MqttClient;
  readonly heartbeats: MqttClient;
  readonly #sessionFilters: string[];
  #closing = false;

  constructor(
    private readonly config: GatewayConfig,
    handlers: { session: MessageHandler; heartbeats: MessageHandler },
    private readonly events: LinkEvents,
  ) {
    const subs = gatewaySubscriptions(config.domainId, { shareGroup: config.shareGroup });
    const will = {
      topic: gatewayStatusTopic(config.domainId, config.replica),
      payload: Buffer.from(JSON.stringify({ replica: config.replica, connected: false })),
      qos: 1 as const,
      retain: false,
    };
    this.#sessionFilters = subs.filter((s) => s.qos === 1).map((s) => s.filter);
    this.session = this.#open(
      'session',
      {
        clientId: config.clientId,
        clean: false,
        ...(config.protocolVersion === 5 ? { properties: { sessionExpiryInterval: Math.floor(config.sessionExpiryMs / 1000) } } : {}),
        will,
      },
      subs.filter((s) => s.qos === 1),
      handlers.session,
    );
    this.heartbeats = this.#open('heartbeats', { clientId: config.heartbeatClientId, clean: true }, subs.filter((s) => s.qos === 0), handlers.heartbeats);
  }

  /** Both connections are up. */
  get connected(): boolean {
    return this.session.connected && this.heartbeats.connected;
  }

  /** Resolves when both connections are up for the first time; rejects on a refused first connection. */
  async ready(timeoutMs = 15_000): Promise<void> {
    await Promise.all([firstConnect(this.session, timeoutMs), firstConnect(this.heartbeats, timeoutMs)]);
  }

  /** Publishes the replica's status (the will says the opposite when it dies). */
  announce(connected: boolean): void {
    if (!this.session.connected) return;
    this.session.publish(gatewayStatusTopic(this.config.domainId, this.config.replica), JSON.stringify({ replica: this.config.replica, connected }), { qos: 1, retain: false });
  }

  /**
   * Leaves the share group of the persistent session (unsubscribes its QoS 1 filters), so the broker
   * routes them to the other replicas only. Resolves on the UNSUBACK, by which time every message the
   * broker sent before it has been handled (the session handles its messages one at a time, in order).
   */
  async leaveGroup(): Promise<void> {
    if (this.session.connected) await this.session.unsubscribeAsync(this.#sessionFilters);
  }

  /**
   * Stops reading and disconnects both sessions. The persistent session stays on the broker (QoS 1
   * messages wait there for this client id); the clean one, and its subscriptions, go at once.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([this.session.endAsync(false), this.heartbeats.endAsync(false)]);
  }

  #open(which: 'session' | 'heartbeats', extra: Partial<IClientOptions>, subs: Subscription[], handler: MessageHandler): MqttClient {
    const c = this.config;
    const client = connect(c.broker, {
      protocolVersion: c.protocolVersion,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: 10_000,
      keepalive: 30,
      // Subscriptions are made on every connect below (a broker that lost the session needs them again).
      resubscribe: false,
      ...(c.username === undefined ? {} : { username: c.username }),
      ...(c.password === undefined ? {} : { password: c.password }),
      ...(c.tls.ca === undefined ? {} : { ca: c.tls.ca }),
      ...(c.tls.cert === undefined ? {} : { cert: c.tls.cert }),
      ...(c.tls.key === undefined ? {} : { key: c.tls.key }),
      ...extra,
    });
    // mqtt.js reads the next packet of a connection only when this callback is called, and sends the
    // PUBACK of a QoS 1 message then: the handler decides both when we read on and when the broker forgets.
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      handler(packet.topic, payload, packet.qos).then(
        () => done(),
        () => done(),
      );
    };
    let failures = 0;
    client.on('connect', () => {
      failures = 0;
      client.options.reconnectPeriod = RECONNECT_MIN_MS;
      client.subscribe(
        subs.map((s) => s.filter),
        { qos: subs[0]?.qos ?? 0 },
        (err) => {
          if (err) this.events.onError(err, which);
        },
      );
      this.events.onConnectionChange(true, which);
    });
    client.on('close', () => {
      if (this.#closing) return;
      // Exponential backoff (1 s, 2 s, 4 s ... 30 s): mqtt.js reads reconnectPeriod each time it schedules an attempt.
      client.options.reconnectPeriod = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** failures);
      failures += 1;
      this.events.onConnectionChange(false, which);
    });
    client.on('error', (err) => this.events.onError(err, which));
    return client;
  }
}

function firstConnect(client: MqttClient, timeoutMs: number): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no MQTT connection within ${timeoutMs} ms`)), timeoutMs);
    const onConnect = (): void => finish();
    const onError = (err: Error): void => finish(err);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      client.removeListener('connect', onConnect);
      client.removeListener('error', onError);
      if (err) reject(err);
      else resolve();
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
}
