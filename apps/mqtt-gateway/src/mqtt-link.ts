import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { gatewaySubscriptions, type Subscription } from '@propeller/mqtt-protocol';
import { DEFAULT_SESSION_IN_FLIGHT, type GatewayConfig } from './config';

/** Topic of a replica's own status; the broker publishes `{"replica", "connected": false}` there when the replica dies (its last-will). */
export const gatewayStatusTopic = (domainId: string, replica: string): string => `m/${domainId}/gateway/${replica}/status`;

/** First and longest delay between reconnection attempts (1 s doubling to 30 s). */
export const RECONNECT_MIN_MS = 1_000;
export const RECONNECT_MAX_MS = 30_000;

/**
 * Handles one message. On the heartbeat connection the returned promise gates reading the next message;
 * on the persistent session it settles when the message is handled (stored), which releases its PUBACK.
 */
export type MessageHandler = (topic: string, payload: Buffer, qos: number) => Promise<void | typeof WITHHOLD_ACK>;

/** What a session handler answers for a message it must not acknowledge (a replica stopping): the broker redelivers it. */
export const WITHHOLD_ACK = 'withhold';

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
  readonly #acks: PipelinedAcks;
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
    this.#acks = pipelineAcks(this.session, handlers.session, config.sessionInFlight ?? DEFAULT_SESSION_IN_FLIGHT);
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
   * broker sent before it has been read and handed to the handler (packets are read in order); the
   * gateway then waits for their handling (`idle`).
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
    // The PUBACKs of the messages handled so far go out before the DISCONNECT.
    await this.#acks.flushed();
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

type PacketSender = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/**
 * Lets the persistent session read on while earlier QoS 1 messages are still being stored, without
 * acknowledging any of them early. mqtt.js sends a message's PUBACK from the callback of `handleMessage`
 * and reads the next packet only after it; here `handleMessage` answers at once (while fewer than
 * `inFlight` messages are being handled, else when one finishes) and the PUBACK itself is held until the
 * handler's promise settled, then sent in the order the messages arrived (MQTT 5 §4.6). So many results
 * are stored with one NATS write and acknowledged with one MQTT write, and a crash still loses none: the
 * broker redelivers every message whose PUBACK was not sent. PUBACKs held when the connection drops are
 * not sent on the next one (the broker redelivers those messages; the inbox's message ids make the copies
 * duplicates), nor for a message whose handler answered `WITHHOLD_ACK`. Relies on mqtt.js's `_sendPacket`
 * (5.x); `inFlight` 1 keeps one message at a time.
 */
export function pipelineAcks(client: MqttClient, handler: MessageHandler, inFlight: number): PipelinedAcks {
  // messageId → whether to acknowledge, once handled.
  const handled = new Map<number, Promise<boolean>>();
  let acks: Promise<void> = Promise.resolve();
  let connection = 0;
  let running = 0;
  let waiting: (() => void) | undefined;
  client.on('close', () => {
    connection += 1;
    handled.clear();
  });
  const internals = client as unknown as { _sendPacket: PacketSender };
  const send: PacketSender = internals._sendPacket.bind(client);
  internals._sendPacket = (packet, cb, ...rest) => {
    const done = packet.cmd === 'puback' && packet.messageId !== undefined ? handled.get(packet.messageId) : undefined;
    if (done === undefined) {
      send(packet, cb, ...rest);
      return;
    }
    handled.delete(packet.messageId as number);
    const on = connection;
    acks = acks
      .then(() => done)
      .then((ack) => {
        if (ack && on === connection && client.connected) send(packet);
      });
    // Read on now: the PUBACK goes out once the message is handled.
    cb?.();
  };
  client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const settled = handler(packet.topic, payload, packet.qos).then(
      (r) => r !== WITHHOLD_ACK,
      () => true,
    );
    if (packet.qos > 0 && packet.messageId !== undefined) handled.set(packet.messageId, settled);
    running += 1;
    void settled.then(() => {
      running -= 1;
      const next = waiting;
      waiting = undefined;
      next?.();
    });
    if (running < inFlight) done();
    else waiting = () => done();
  };
  return { flushed: () => acks };
}

/** The PUBACKs `pipelineAcks` holds. */
export interface PipelinedAcks {
  /** Resolves once the PUBACK of every message handled so far was written (or dropped with its connection). */
  flushed(): Promise<void>;
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
