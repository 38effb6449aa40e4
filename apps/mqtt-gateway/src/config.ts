import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseDuration, type PropellerConfig } from '@propeller/config';
import { InvalidError } from '@propeller/events';
import { isTopicLevel } from '@propeller/mqtt-protocol';

/** Default shared-subscription group of every gateway replica (`GATEWAY_SHARE_GROUP`). */
export const DEFAULT_SHARE_GROUP = 'propeller-gateway';
/** Default bound of messages handled at once on the heartbeat connection (`GATEWAY_QUEUE_CAPACITY`). */
export const DEFAULT_QUEUE_CAPACITY = 512;
/** Default bound of QoS 1 messages of the persistent session being handled at once (`GATEWAY_SESSION_IN_FLIGHT`). */
export const DEFAULT_SESSION_IN_FLIGHT = 256;
/** Default MQTT 5 session expiry of the persistent session (`GATEWAY_SESSION_EXPIRY`, 7 days). */
export const DEFAULT_SESSION_EXPIRY_MS = 7 * 24 * 3_600_000;
/** Default wait of a `task_started` for its result before it is stored (`GATEWAY_STARTED_GRACE`, 20 ms). */
export const DEFAULT_STARTED_GRACE_MS = 20;
/** Default refresh period of the gateway's own liveness key (`GATEWAY_LIVENESS_REFRESH`, 5 s). */
export const DEFAULT_LIVENESS_REFRESH_MS = 5_000;

/** Everything one gateway replica is configured with. */
export interface GatewayConfig {
  /** `GATEWAY_REPLICA` (default the host name, the pod name of a StatefulSet): names the liveness key and the client ids. */
  replica: string;
  /** Client id of the persistent session: `mqtt.clientId`, default `propeller-gateway-<replica>`. */
  clientId: string;
  /** Client id of the clean heartbeat session: `<clientId>-hb`. */
  heartbeatClientId: string;
  broker: string;
  username?: string;
  password?: string;
  /** PEM contents (read from a path, or given inline). */
  tls: { ca?: string; cert?: string; key?: string };
  domainId: string;
  /** `GATEWAY_SHARE_GROUP` (default `propeller-gateway`): replicas with the same group share the work. */
  shareGroup: string;
  /** `GATEWAY_QUEUE_CAPACITY` (default 512). */
  queueCapacity: number;
  /**
   * `GATEWAY_SESSION_IN_FLIGHT` (default 256): QoS 1 messages read and being stored at once; each is still
   * acknowledged (PUBACK, in arrival order) only once stored. 1 handles them one at a time.
   */
  sessionInFlight?: number;
  /**
   * `GATEWAY_STARTED_GRACE` (default 20ms; `0` stores every `task_started`): how long a `task_started` waits for
   * its result to be read on the session. A result read and stored meanwhile supersedes it: the `task_started`
   * is acknowledged without being stored (the task goes from `scheduled` to its end in one step). Later PUBACKs
   * wait behind it (they go out in arrival order); with `GATEWAY_SESSION_IN_FLIGHT` 1 the result cannot be read
   * meanwhile, so every `task_started` waits this long and is stored.
   */
  startedGraceMs?: number;
  /** `GATEWAY_SESSION_EXPIRY` (default 7d): how long the broker keeps the persistent session of a replica that is gone. */
  sessionExpiryMs: number;
  /** `GATEWAY_LIVENESS_REFRESH` (default 5s). */
  livenessRefreshMs: number;
  /** `GATEWAY_MQTT_VERSION` (default 5): 5, or 4 (3.1.1) for brokers without MQTT 5 — the session then never expires on its own. */
  protocolVersion: 4 | 5;
  natsUrl: string;
  natsPrefix: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const get = (env: Env, key: string): string | undefined => {
  const v = env[key]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

/** A positive duration; with `off`, also `0` (or any zero duration), which turns the knob off. */
function duration(env: Env, key: string, fallback: number, o: { off?: boolean } = {}): number {
  const raw = get(env, key);
  if (raw === undefined) return fallback;
  const ms = o.off && raw === '0' ? 0 : parseDuration(raw);
  if (ms === undefined || (ms === 0 && !o.off)) throw InvalidError.field(key, raw, o.off ? 'expected a duration such as 20ms or 1s, or 0 (off)' : 'expected a duration such as 5s, 1m or 7d');
  return ms;
}

function positiveInt(env: Env, key: string, fallback: number): number {
  const raw = get(env, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw InvalidError.field(key, raw, 'expected a positive integer');
  return n;
}

function protocolVersion(raw: string | undefined): 4 | 5 {
  if (raw === undefined || raw === '5') return 5;
  if (raw === '4' || raw === '3.1.1') return 4;
  throw InvalidError.field('GATEWAY_MQTT_VERSION', raw, 'expected 5 or 4 (3.1.1)');
}

function mqttId(key: string, value: string): string {
  if (!isTopicLevel(value) || /\s/.test(value)) throw InvalidError.field(key, value, 'expected a string without /, +, # or spaces');
  return value;
}

/** A TLS value is a path or inline PEM; inline PEM is recognised by its `-----BEGIN` line. */
export function readPem(key: string, value: string | undefined, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string | undefined {
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return value;
  try {
    return read(value);
  } catch (e) {
    throw new InvalidError(`${key}: cannot read ${value}`, [{ field: key, value, rule: 'expected a readable PEM file or inline PEM' }], { cause: e });
  }
}

/**
 * The gateway's configuration: shared keys from `libs/config` (MQTT broker, credentials, TLS,
 * client id, domain, NATS) and the gateway's own `GATEWAY_*` keys, read from the environment here
 * because `libs/config` does not have them. A bad value throws `InvalidError` naming key, value and form.
 */
export function gatewayConfigFrom(shared: PropellerConfig, env: Env, host: string = hostname()): GatewayConfig {
  const replica = mqttId('GATEWAY_REPLICA', get(env, 'GATEWAY_REPLICA') ?? host);
  const clientId = shared.mqtt.clientId ?? `propeller-gateway-${replica}`;
  const username = shared.mqtt.username;
  const password = shared.mqtt.password;
  const tls = {
    ca: readPem('mqtt.tls.ca', shared.mqtt.tls.ca),
    cert: readPem('mqtt.tls.cert', shared.mqtt.tls.cert),
    key: readPem('mqtt.tls.key', shared.mqtt.tls.key),
  };
  return {
    replica,
    clientId,
    heartbeatClientId: `${clientId}-hb`,
    broker: shared.mqtt.broker,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)),
    domainId: shared.mqtt.domainId,
    shareGroup: mqttId('GATEWAY_SHARE_GROUP', get(env, 'GATEWAY_SHARE_GROUP') ?? DEFAULT_SHARE_GROUP),
    queueCapacity: positiveInt(env, 'GATEWAY_QUEUE_CAPACITY', DEFAULT_QUEUE_CAPACITY),
    sessionInFlight: positiveInt(env, 'GATEWAY_SESSION_IN_FLIGHT', DEFAULT_SESSION_IN_FLIGHT),
    startedGraceMs: duration(env, 'GATEWAY_STARTED_GRACE', DEFAULT_STARTED_GRACE_MS, { off: true }),
    sessionExpiryMs: duration(env, 'GATEWAY_SESSION_EXPIRY', DEFAULT_SESSION_EXPIRY_MS),
    livenessRefreshMs: duration(env, 'GATEWAY_LIVENESS_REFRESH', DEFAULT_LIVENESS_REFRESH_MS),
    protocolVersion: protocolVersion(get(env, 'GATEWAY_MQTT_VERSION')),
    natsUrl: shared.nats.url,
    natsPrefix: shared.nats.prefix,
  };
}
