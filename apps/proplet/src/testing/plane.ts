import { connectAsync, type MqttClient } from 'mqtt';
import { waitFor } from './wait';

/** One message the fake plane saw. */
export interface SeenMessage {
  topic: string;
  json: Record<string, unknown>;
  /** MQTT 5 user properties of the message. */
  userProperties?: Record<string, string | string[]>;
}

/**
 * A plain MQTT client playing the control plane in tests: it records everything under a domain and
 * publishes starts/stops as the gateway would. Not a fake of the gateway's logic — just the wire.
 */
export class PlaneClient {
  readonly seen: SeenMessage[] = [];

  private constructor(
    readonly client: MqttClient,
    readonly domainId: string,
  ) {}

  static async connect(url: string, domainId: string): Promise<PlaneClient> {
    const client = await connectAsync(url, { clientId: `plane-${domainId}-${Math.random().toString(36).slice(2, 8)}`, clean: true, reconnectPeriod: 0, protocolVersion: 5 });
    const plane = new PlaneClient(client, domainId);
    client.on('message', (topic, payload, packet) => {
      const userProperties = packet.properties?.userProperties;
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(payload.toString()) as Record<string, unknown>;
      } catch {
        json = { raw: payload.toString() };
      }
      plane.seen.push({ topic, json, ...(userProperties ? { userProperties } : {}) });
    });
    await client.subscribeAsync(`m/${domainId}/#`, { qos: 1 });
    return plane;
  }

  /** Messages whose topic ends with `suffix` and whose payload matches `where`. */
  matching(suffix: string, where: (json: Record<string, unknown>) => boolean = () => true): SeenMessage[] {
    return this.seen.filter((m) => m.topic.endsWith(suffix) && where(m.json));
  }

  /** Waits for the first such message. */
  async next(suffix: string, where: (json: Record<string, unknown>) => boolean = () => true, timeoutMs = 10_000): Promise<SeenMessage> {
    await waitFor(() => this.matching(suffix, where).length > 0, `a message on …${suffix}`, timeoutMs);
    return this.matching(suffix, where)[0] as SeenMessage;
  }

  /** Publishes with QoS 1, optionally with MQTT 5 user properties (e.g. `traceparent`). */
  async publish(topic: string, message: unknown, userProperties?: Record<string, string>): Promise<void> {
    await this.client.publishAsync(topic, JSON.stringify(message), { qos: 1, ...(userProperties ? { properties: { userProperties } } : {}) });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
