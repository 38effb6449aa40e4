import { InvalidError } from '@propeller/events';

/**
 * MQTT topics of the device protocol (PROTOCOL.md "Topics").
 *
 * A topic is `m/{domainId}/c/{channelId}` + (`/messages` for the `messages` layout) + a suffix.
 * Domain, channel and proplet ids are single topic levels: non-empty, without `/`, `+`, `#` or NUL.
 */

/** `messages`: base `m/{d}/c/{ch}/messages` (hybrid-orchestration protocol, default for our proplets); `direct`: base `m/{d}/c/{ch}` (current upstream proplets). */
export type Layout = 'messages' | 'direct';

/** Both layouts, in the order the gateway subscribes to them. */
export const LAYOUTS: readonly Layout[] = ['direct', 'messages'];

/** Default MQTT domain id (`PROPELLER_DOMAIN_ID`). */
export const DEFAULT_DOMAIN_ID = 'propeller';
/** Default channel id our own proplets use (`PROPELLER_CHANNEL_ID`). */
export const DEFAULT_CHANNEL_ID = 'control';

/** What a topic carries; the name of the message kind in every API of this library. */
export type TopicKind =
  | 'create'
  | 'alive'
  | 'start'
  | 'stop'
  | 'task_started'
  | 'results'
  | 'metrics'
  | 'task_metrics'
  | 'registry_request'
  | 'registry_chunk';

/** Every kind, for tables and metrics labels. */
export const TOPIC_KINDS: readonly TopicKind[] = [
  'create',
  'alive',
  'start',
  'stop',
  'task_started',
  'results',
  'metrics',
  'task_metrics',
  'registry_request',
  'registry_chunk',
];

/** The topic suffix (under the base) of each kind; start/stop may take a `/{proplet_id}` level more. */
export const TOPIC_SUFFIX: Readonly<Record<TopicKind, string>> = {
  create: 'control/proplet/create',
  alive: 'control/proplet/alive',
  start: 'control/manager/start',
  stop: 'control/manager/stop',
  task_started: 'control/proplet/task_started',
  results: 'control/proplet/results',
  metrics: 'control/proplet/metrics',
  task_metrics: 'control/proplet/task_metrics',
  registry_request: 'registry/proplet',
  registry_chunk: 'registry/server',
};

/** Kinds a proplet publishes (and the gateway subscribes to). */
export const DEVICE_KINDS: readonly TopicKind[] = [
  'create',
  'alive',
  'task_started',
  'results',
  'metrics',
  'task_metrics',
  'registry_request',
];

/** Kinds the plane publishes to proplets. */
export const PLANE_KINDS: readonly TopicKind[] = ['start', 'stop', 'registry_chunk'];

/** Where a proplet lives on MQTT: its domain, its channel and the layout it registered on. */
export interface ChannelRef {
  domainId: string;
  channelId: string;
  layout: Layout;
}

/** Every topic of one channel in one layout. */
export interface ChannelTopics {
  readonly base: string;
  readonly create: string;
  readonly alive: string;
  /** Shared start topic (upstream proplets, broadcast). */
  readonly start: string;
  /** Shared stop topic. */
  readonly stop: string;
  /** `…/control/manager/start/{propletId}` for proplets that asked for their own topics. */
  startFor(propletId: string): string;
  /** `…/control/manager/stop/{propletId}`. */
  stopFor(propletId: string): string;
  readonly taskStarted: string;
  readonly results: string;
  readonly metrics: string;
  readonly taskMetrics: string;
  /** `registry/proplet`: module requests from proplets. */
  readonly registryRequest: string;
  /** `registry/server`: module chunks from the plane. */
  readonly registryChunk: string;
  /** The topic of a kind; `propletId` selects the per-proplet start/stop topic. */
  of(kind: TopicKind, propletId?: string): string;
}

// MQTT forbids wildcards in published topic names; `/` would split the level and make parsing
// ambiguous; control characters are refused as the events' ChannelSchema refuses them.
const LEVEL_RE = /^[^/+#\p{Cc}]+$/u;

/** True when `value` can stand as one MQTT topic level of ours (non-empty, no `/`, `+`, `#` or control characters). */
export function isTopicLevel(value: unknown): value is string {
  return typeof value === 'string' && LEVEL_RE.test(value);
}

/** Throws `InvalidError` naming the field unless `value` is a valid single topic level. */
export function assertTopicLevel(field: string, value: unknown): string {
  if (!isTopicLevel(value)) {
    throw InvalidError.field(field, value, 'must be a non-empty MQTT topic level without "/", "+", "#" or control characters');
  }
  return value;
}

/** The base of a channel in a layout: `m/{d}/c/{ch}` or `m/{d}/c/{ch}/messages`. Throws `InvalidError` on a bad id. */
export function baseTopic(ref: ChannelRef): string {
  const domainId = assertTopicLevel('domainId', ref.domainId);
  const channelId = assertTopicLevel('channelId', ref.channelId);
  const direct = `m/${domainId}/c/${channelId}`;
  switch (ref.layout) {
    case 'direct':
      return direct;
    case 'messages':
      return `${direct}/messages`;
    default: {
      const never: never = ref.layout;
      throw InvalidError.field('layout', never, 'must be "messages" or "direct"');
    }
  }
}

/** Every topic of one channel in one layout (PROTOCOL.md topic table). Throws `InvalidError` on a bad domain or channel id. */
export function topicsFor(ref: ChannelRef): ChannelTopics {
  const base = baseTopic(ref);
  const t = (kind: TopicKind): string => `${base}/${TOPIC_SUFFIX[kind]}`;
  const of = (kind: TopicKind, propletId?: string): string => {
    if (propletId === undefined) return t(kind);
    if (kind !== 'start' && kind !== 'stop') {
      throw InvalidError.field('kind', kind, 'only start and stop have per-proplet topics');
    }
    return `${t(kind)}/${assertTopicLevel('propletId', propletId)}`;
  };
  return {
    base,
    create: t('create'),
    alive: t('alive'),
    start: t('start'),
    stop: t('stop'),
    startFor: (propletId) => of('start', propletId),
    stopFor: (propletId) => of('stop', propletId),
    taskStarted: t('task_started'),
    results: t('results'),
    metrics: t('metrics'),
    taskMetrics: t('task_metrics'),
    registryRequest: t('registry_request'),
    registryChunk: t('registry_chunk'),
    of,
  };
}

/** MQTT QoS level. */
export type QoS = 0 | 1;

/**
 * QoS the gateway subscribes with (PROTOCOL.md "Delivery rules"): what must survive a gateway
 * restart (results, creates, task_started, registry requests) is QoS 1; heartbeats and metrics are
 * QoS 0 so they do not pile up in the broker while no gateway listens.
 */
export const SUBSCRIPTION_QOS: Readonly<Record<TopicKind, QoS>> = {
  create: 1,
  alive: 0,
  start: 1,
  stop: 1,
  task_started: 1,
  results: 1,
  metrics: 0,
  task_metrics: 0,
  registry_request: 1,
  registry_chunk: 1,
};

/** One subscription of the gateway. */
export interface Subscription {
  /** The MQTT filter, `$share/<group>/`-prefixed for shared subscriptions. */
  readonly filter: string;
  readonly qos: QoS;
  readonly kind: TopicKind;
  readonly layout: Layout;
}

/** Options of `gatewaySubscriptions`. */
export interface GatewaySubscriptionOptions {
  /** Shared-subscription group; when set every filter becomes `$share/<group>/<filter>` so replicas split the load. Default: none. */
  shareGroup?: string;
}

/**
 * The filters the gateway subscribes to: every device-published kind on every channel (`+`) of the
 * domain, in both layouts, each with its own QoS. One filter per kind rather than
 * `control/proplet/#`, because the QoS differs per kind and overlapping filters make some brokers
 * deliver a message twice. The filters never overlap: `+` matches exactly one level, so
 * `m/d/c/+/control/…` never matches a `messages`-layout topic and vice versa.
 */
export function gatewaySubscriptions(domainId: string, options: GatewaySubscriptionOptions = {}): Subscription[] {
  const prefix = options.shareGroup === undefined ? '' : `$share/${assertTopicLevel('shareGroup', options.shareGroup)}/`;
  const domain = assertTopicLevel('domainId', domainId);
  const subscriptions: Subscription[] = [];
  for (const layout of LAYOUTS) {
    const base = `m/${domain}/c/+` + (layout === 'messages' ? '/messages' : '');
    for (const kind of DEVICE_KINDS) {
      subscriptions.push({ filter: `${prefix}${base}/${TOPIC_SUFFIX[kind]}`, qos: SUBSCRIPTION_QOS[kind], kind, layout });
    }
  }
  return subscriptions;
}

/** What `parseTopic` reads from a topic of ours. */
export interface ParsedTopic {
  domainId: string;
  channelId: string;
  layout: Layout;
  kind: TopicKind;
  /** Set for per-proplet start/stop topics only. */
  propletId?: string;
}

const SUFFIX_TO_KIND: ReadonlyMap<string, TopicKind> = new Map(
  TOPIC_KINDS.map((kind) => [TOPIC_SUFFIX[kind], kind] as const),
);

function parseSuffix(levels: readonly string[]): { kind: TopicKind; propletId?: string } | null {
  const kind = SUFFIX_TO_KIND.get(levels.join('/'));
  if (kind !== undefined) return { kind };
  // Per-proplet start/stop: one more level after the shared topic.
  if (levels.length === 4 && levels[0] === 'control' && levels[1] === 'manager') {
    const shared = SUFFIX_TO_KIND.get(levels.slice(0, 3).join('/'));
    const propletId = levels[3];
    if ((shared === 'start' || shared === 'stop') && isTopicLevel(propletId)) return { kind: shared, propletId };
  }
  return null;
}

/**
 * Reads domain, channel, layout, kind (and proplet id of per-proplet topics) from a topic, or
 * `null` for a topic that is not ours.
 *
 * Ambiguity: a channel may literally be called `messages`. The channel is always exactly the
 * fourth level (as the gateway's `+` matches it), and a suffix always starts with `control` or
 * `registry`, so `m/d/c/messages/control/proplet/create` is channel `messages` in the `direct`
 * layout and `m/d/c/messages/messages/control/proplet/create` is channel `messages` in the
 * `messages` layout. A channel called `control` or `registry` is read the same way.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  if (typeof topic !== 'string') return null;
  const levels = topic.split('/');
  if (levels.length < 6 || levels[0] !== 'm' || levels[2] !== 'c') return null;
  const domainId = levels[1];
  const channelId = levels[3];
  if (!isTopicLevel(domainId) || !isTopicLevel(channelId)) return null;
  const rest = levels.slice(4);
  if (rest[0] === 'messages') {
    const suffix = parseSuffix(rest.slice(1));
    if (suffix !== null) return { domainId, channelId, layout: 'messages', ...suffix };
  }
  const suffix = parseSuffix(rest);
  if (suffix !== null) return { domainId, channelId, layout: 'direct', ...suffix };
  return null;
}
