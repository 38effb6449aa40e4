/** What the reconcile logic needs from the operator's configuration. */
export interface ReconcileConfig {
  /** The broker the gateway serves (`MQTT_BROKER`, default `mqtt://127.0.0.1:1883`). */
  mqttBroker: string;
  /** `PROPELLER_DOMAIN_ID`, default `propeller`. */
  domainId: string;
  /** `PROPELLER_CHANNEL_ID`, default `control`. */
  channelId: string;
  /** Secret holding `username` and `password` for the proplet pods; default `mqtt-credentials`. */
  mqttCredentialsSecret: string;
  /** Shortest interval between two `status.lastSeen` writes; default 60 000 ms. */
  lastSeenWriteIntervalMs: number;
}

/** Defaults of `ReconcileConfig` (ARCHITECTURE.md "Configuration"). */
export const DEFAULT_RECONCILE_CONFIG: ReconcileConfig = {
  mqttBroker: 'mqtt://127.0.0.1:1883',
  domainId: 'propeller',
  channelId: 'control',
  mqttCredentialsSecret: 'mqtt-credentials',
  lastSeenWriteIntervalMs: 60_000,
};

/**
 * Brokers compare by host and port, whatever form they were written in (`host:port`, `mqtt://`,
 * `tcp://`; `mqtts://`, `ws://` keep their scheme because they are different listeners).
 */
export function normalizeBroker(broker: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(broker) ? broker : `mqtt://${broker}`;
  try {
    const url = new URL(withScheme);
    const scheme = url.protocol === 'tcp:' ? 'mqtt:' : url.protocol;
    const defaultPort = scheme === 'mqtts:' ? '8883' : scheme === 'ws:' ? '80' : scheme === 'wss:' ? '443' : '1883';
    return `${scheme}//${url.hostname.toLowerCase()}:${url.port || defaultPort}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return broker.trim().toLowerCase();
  }
}
