import { bool, duration, int, list, oneOf, port, ratio, size, text, url } from './kinds';
import { Knob } from './knob';

/** Scheduling policies (`SCHEDULER_TYPE`). */
export const SCHEDULER_TYPES = ['roundrobin', 'resource-aware', 'hybrid'] as const;
/** Log levels understood by the logger. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Same rule as `natsNames()` in libs/events; repeated here because a util lib may not import contracts.
const NATS_PREFIX_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MQTT_ID_RE = /^[^/+#\s]+$/;

/**
 * Every configuration key Propeller knows, as the `config.yaml` (ConfigMap) tree. Each key is also
 * the env var `PROPELLER_<UPPER_SNAKE_PATH>`; `env` lists the documented aliases.
 * docs/configuration.md is generated from this tree.
 */
export const configSchema = {
  nats: {
    url: url('nats://127.0.0.1:4222', {
      env: ['NATS_URL'],
      schemes: ['nats', 'tls', 'ws', 'wss'],
      hostPort: 'nats',
      many: true,
      doc: 'NATS server(s) with JetStream; credentials in the URL are masked in logs.',
    }),
    prefix: text('propeller', {
      env: ['PROPELLER_NATS_PREFIX'],
      pattern: NATS_PREFIX_RE,
      form: '1-64 characters of A-Z a-z 0-9 _ -',
      doc: 'Prefix of every NATS subject, stream, KV bucket and object store.',
    }),
    replicas: int(1, { min: 1, max: 5, doc: 'Replicas of the event stream and KV buckets (1 on a single server).' }),
    streamMaxBytes: size('1Gi', { doc: 'Size bound of the event stream (`discard: new`; an alert fires at 80 %).' }),
    duplicateWindow: duration('2m', { doc: 'JetStream duplicate window: a publish retried within it is stored once.' }),
    leaseTtl: duration('10s', { min: '1s', doc: 'TTL of the leases bucket: how soon a dead singleton is replaced.' }),
    dlqMaxBytes: size('256Mi', { doc: 'Size bound of the dead-letter stream (`discard: new`).' }),
    metricsMaxAge: duration('24h', { doc: 'How long the device metrics history stream keeps entries.' }),
    maxDeliver: int(5, { min: 1, max: 100, doc: 'Tries per event before a process manager puts it on its dead-letter subject.' }),
  },
  database: {
    url: url('postgres://postgres@127.0.0.1:5432/postgres', {
      env: ['DATABASE_URL'],
      schemes: ['postgres', 'postgresql'],
      doc: 'Postgres holding the read models; the password is masked in logs.',
    }),
    schema: text('propeller', {
      pattern: /^[a-z_][a-z0-9_]{0,62}$/,
      form: 'a lower-case SQL identifier such as propeller',
      doc: 'Postgres schema of the read models and projection checkpoints.',
    }),
    poolMax: int(5, { env: ['DATABASE_POOL_MAX'], min: 1, max: 100, doc: 'Largest number of pooled Postgres connections per process.' }),
  },
  mqtt: {
    broker: url('mqtt://127.0.0.1:1883', {
      env: ['MQTT_BROKER'],
      schemes: ['mqtt', 'mqtts', 'ws', 'wss'],
      hostPort: 'mqtt',
      doc: 'MQTT broker the gateway and proplets connect to.',
    }),
    username: text(undefined, { env: ['MQTT_USERNAME'], doc: 'MQTT user name (none by default).' }),
    password: text(undefined, { env: ['MQTT_PASSWORD'], secret: true, doc: 'MQTT password (secret).' }),
    clientId: text(undefined, {
      pattern: MQTT_ID_RE,
      form: 'a string without /, +, # or spaces',
      doc: 'Fixed MQTT client id, so a persistent session survives restarts (default: derived from the service).',
    }),
    domainId: text('propeller', {
      env: ['PROPELLER_DOMAIN_ID'],
      pattern: MQTT_ID_RE,
      form: 'a topic segment without /, +, # or spaces',
      doc: 'Domain segment of every topic (`m/{domainId}/c/{channelId}/...`).',
    }),
    channelId: text('control', {
      env: ['PROPELLER_CHANNEL_ID'],
      pattern: MQTT_ID_RE,
      form: 'a topic segment without /, +, # or spaces',
      doc: 'Channel our own proplets use unless told otherwise.',
    }),
    layout: oneOf(['messages', 'direct'] as const, 'messages', {
      doc: 'Topic layout our proplets use: `messages` (`.../messages/control/...`) or `direct` (upstream).',
    }),
    tls: {
      ca: text(undefined, { doc: 'CA bundle (path or inline PEM) to verify an `mqtts://`/`wss://` broker.' }),
      cert: text(undefined, { doc: 'Client certificate (path or inline PEM) for mutual TLS.' }),
      key: text(undefined, { secret: true, doc: 'Client private key (path or inline PEM; secret).' }),
    },
  },
  scheduler: {
    type: oneOf(SCHEDULER_TYPES, 'hybrid', {
      env: ['SCHEDULER_TYPE'],
      doc: 'Placement policy after the hard filters.',
    }),
    computeKeywords: list(['ml', 'ai', 'compute', 'batch'], {
      doc: '`hybrid`: name/image/label tokens that make a task prefer Kubernetes proplets.',
    }),
    edgeKeywords: list(['sensor', 'iot', 'edge', 'device'], {
      doc: '`hybrid`: tokens that make a task prefer external (edge) proplets.',
    }),
    loadBalancingRatio: ratio(0.5, { doc: '`hybrid`: probability that an unclassified task goes to Kubernetes.' }),
  },
  healthMonitor: {
    checkInterval: duration('1m', { env: ['HEALTH_CHECK_INTERVAL'], doc: 'How often the health judge looks at liveness.' }),
    offlineThreshold: duration('5m', { env: ['OFFLINE_THRESHOLD'], doc: 'Silence after which a proplet is `offline` (no new work).' }),
    failureThreshold: duration('15m', {
      env: ['FAILURE_THRESHOLD'],
      doc: 'Silence after which a proplet is `failed` (its tasks may be evacuated); must exceed offlineThreshold.',
    }),
    autoEvacuateTasks: bool(true, { doc: "Move a failed proplet's unfinished tasks back to `pending`." }),
    breaker: {
      share: ratio(0.55, { doc: "Share of a site's proplets offline or failed above which its evacuation pauses." }),
      window: duration('5m', { doc: 'How long the share must stay below `share` before evacuation resumes by itself.' }),
    },
  },
  k8s: {
    namespace: text('default', {
      env: ['K8S_NAMESPACE'],
      pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
      form: 'a Kubernetes namespace name (lower-case letters, digits, -)',
      doc: 'Namespace the k8s-agent watches and creates proplet Deployments in.',
    }),
    probePort: port(8081, { doc: "Port of the k8s-agent's liveness/readiness probes (its metrics use metricsPort, default 8080)." }),
  },
  api: {
    port: port(7070, { env: ['PORT'], doc: 'Port of the REST API (also serves /health and /metrics).' }),
    readYourWritesTimeout: duration('2s', {
      doc: 'How long a REST write waits for its read model before answering 202 with Location.',
    }),
  },
  proplet: {
    heartbeatInterval: duration('10s', {
      env: ['PROPLET_HEARTBEAT_INTERVAL'],
      doc: 'How often our proplet sends `alive`.',
    }),
    httpPort: port(9090, { env: ['PROPLET_HTTP_PORT'], doc: "Port of our proplet's /health and /metrics." }),
  },
  metricsPort: port(undefined, {
    env: ['METRICS_PORT'],
    doc: 'Port of /health and /metrics (default per service: registry 9101, scheduler 9102, health-monitor 9103, mqtt-gateway 9104, k8s-agent 8080).',
  }),
  shutdownTimeout: duration('10s', {
    min: '100ms',
    doc: 'Longest graceful stop after SIGTERM/SIGINT; past it the process exits with status 1.',
  }),
  moduleMaxBytes: size('16Mi', { env: ['MODULE_MAX_BYTES'], doc: 'Largest Wasm module accepted into the module store.' }),
  taskRetention: duration('7d', { env: ['TASK_RETENTION'], doc: 'How long a terminal task stays before it is archived and purged.' }),
  logLevel: oneOf(LOG_LEVELS, 'info', { env: ['LOG_LEVEL'], doc: 'Lowest level of the JSON logs.' }),
  otel: {
    enabled: bool(false, { doc: 'Record OpenTelemetry traces (also on when otel.endpoint is set).' }),
    endpoint: url(undefined, {
      env: ['OTEL_EXPORTER_OTLP_ENDPOINT'],
      schemes: ['http', 'https'],
      doc: 'OTLP collector endpoint; setting it turns tracing on.',
    }),
    serviceName: text(undefined, { env: ['OTEL_SERVICE_NAME'], doc: 'Service name on spans (default: the service name).' }),
    exporter: oneOf(['console', 'memory', 'none'] as const, 'console', {
      doc: 'Where spans go when tracing is on: `console` (stdout JSON), `memory` (tests) or `none`.',
    }),
    sampleRatio: ratio(1, { doc: 'Share of new traces that are sampled (a sampled parent is always followed).' }),
  },
} as const;

/** The typed value tree of a schema tree. */
export type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends Knob<infer T> ? T : ConfigOf<S[K]> };

/** The whole typed configuration every service receives. */
export type PropellerConfig = ConfigOf<typeof configSchema>;

type Paths<S, P extends string = ''> = {
  [K in keyof S & string]: S[K] extends Knob<infer _T> ? `${P}${K}` : Paths<S[K], `${P}${K}.`>;
}[keyof S & string];

/** A dotted key of the configuration, e.g. `healthMonitor.offlineThreshold`. */
export type ConfigKey = Paths<typeof configSchema>;

/** One key of the schema with its derived names. */
export interface KnobEntry {
  key: ConfigKey;
  knob: Knob<unknown>;
  /** Env names in precedence order: `PROPELLER_<UPPER_SNAKE_PATH>` first, then the documented aliases. */
  envNames: readonly string[];
}

/** `healthMonitor.offlineThreshold` → `PROPELLER_HEALTH_MONITOR_OFFLINE_THRESHOLD`. */
export function envNameOf(key: string): string {
  return `PROPELLER_${key
    .split('.')
    .map((seg) => seg.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`;
}

function walk(node: Record<string, unknown>, prefix: string, out: KnobEntry[]): void {
  for (const [name, child] of Object.entries(node)) {
    const key = `${prefix}${name}`;
    if (child instanceof Knob) {
      const canonical = envNameOf(key);
      out.push({ key: key as ConfigKey, knob: child, envNames: [canonical, ...child.env.filter((e) => e !== canonical)] });
    } else {
      walk(child as Record<string, unknown>, `${key}.`, out);
    }
  }
}

/** Every key of the schema, in schema order. */
export function knobEntries(schema: Record<string, unknown> = configSchema): KnobEntry[] {
  const out: KnobEntry[] = [];
  walk(schema, '', out);
  return out;
}
