import { MAX_LABEL_KEY_LENGTH, MAX_LABEL_VALUE_LENGTH, type CreateMessage } from './messages';
import { DEFAULT_DOMAIN_ID, type Layout } from './topics';

/** How a proplet wants its start/stop messages shaped: upstream Rust/ours (`wasmtime`) or ESP32 firmware (`wamr`). */
export type Dialect = 'wasmtime' | 'wamr';

/** Kind of proplet: a Kubernetes pod or an external device. */
export type PropletType = 'k8s' | 'external';

/** Label key that names a proplet's site (from upstream `metadata.location`); the evacuation breaker groups by it. */
export const SITE_LABEL = 'propeller.io/site';

/** Device type when nothing says otherwise. */
export const DEFAULT_DEVICE_TYPE = 'linux';

/** Capacity in Kubernetes quantities; a resource the proplet does not report is absent (unknown, not zero). */
export interface Capacity {
  cpu?: string;
  memory?: string;
}

/** Upstream metadata, camelCased, with empty fields absent (the shape of `PropletMetadata` in @propeller/events). */
export interface PropletMetadata {
  /** Upstream's top-level `namespace` (an ESP32 says `embedded`). */
  namespace?: string;
  description?: string;
  tags: string[];
  location?: string;
  ip?: string;
  environment?: string;
  os?: string;
  hostname?: string;
  cpuArch?: string;
  totalMemoryBytes?: number;
  propletVersion?: string;
  wasmRuntime?: string;
}

/** Owner as a device states it in the `propeller` extension (name required, the rest optional). */
export interface PropletOwner {
  namespace?: string;
  name: string;
  uid?: string;
}

/** A complete owner reference (a `Proplet` custom resource), as the events carry it. */
export interface OwnerRef {
  namespace: string;
  name: string;
  uid: string;
}

/** Where the plane reaches a proplet (the shape of `Channel` in @propeller/events). */
export interface PropletChannel {
  domainId: string;
  channelId: string;
  layout: Layout;
  /** The proplet listens on `control/manager/{start,stop}/{proplet_id}` only. Default false. */
  perPropletTopics: boolean;
}

/**
 * What a create means, in domain (camelCase) terms: the data of `PropletRegistered` (less
 * `registeredAt`, which the registry stamps) plus the proplet id and the extension version.
 */
export interface DerivedRegistration {
  propletId: string;
  type: PropletType;
  deviceType: string;
  capabilities: string[];
  labels: Record<string, string>;
  capacity: Capacity;
  /** Most tasks it runs at once; absent means no limit of its own. */
  maxTasks?: number;
  dialect: Dialect;
  channel: PropletChannel;
  metadata: PropletMetadata;
  /** Set only when the extension names a complete owner (namespace, name and uid). */
  owner?: OwnerRef;
  /** Version of the `propeller` extension it sent; absent for upstream proplets (shaping defaults `extension` to `perPropletTopics`, which only extension speakers set). */
  extensionVersion?: number;
}

/** Where a create was received (from `parseTopic`): domain (default `propeller`), channel id and layout. */
export interface RegistrationContext {
  domainId?: string;
  channel: string;
  layout: Layout;
}

const BINARY_UNITS: readonly (readonly [string, number])[] = [
  ['Ei', 2 ** 60],
  ['Pi', 2 ** 50],
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
];

/** Bytes as a Kubernetes quantity: the largest binary unit that divides it exactly (536870912 → `512Mi`), else plain bytes. */
export function bytesToQuantity(bytes: number): string {
  if (bytes > 0) {
    for (const [unit, size] of BINARY_UNITS) {
      if (bytes % size === 0) return `${bytes / size}${unit}`;
    }
  }
  return String(bytes);
}

const fitsLabel = (key: string, value: string): boolean =>
  key.length > 0 && key.length <= MAX_LABEL_KEY_LENGTH && value.length <= MAX_LABEL_VALUE_LENGTH;

/** Splits upstream tags: `k=v` (non-empty key) become labels, the others are plain tags (capabilities). */
function splitTags(tags: readonly string[]): { plain: string[]; labels: Record<string, string> } {
  const plain: string[] = [];
  const labels: Record<string, string> = {};
  for (const tag of tags) {
    const eq = tag.indexOf('=');
    if (eq < 0) plain.push(tag);
    else if (fitsLabel(tag.slice(0, eq), tag.slice(eq + 1))) labels[tag.slice(0, eq)] = tag.slice(eq + 1);
    // `=v` names no key, and an oversized key or value cannot be a label: dropped rather than
    // failing the whole registration over one tag.
  }
  return { plain, labels };
}

const unique = (list: readonly string[]): string[] => [...new Set(list)];

/** Device type (PROTOCOL.md "Derivation"): `device_type`, else esp32 for zephyr/wamr, else a `device_type=<x>` tag, else `linux`. */
export function deriveDeviceType(create: CreateMessage): string {
  if (create.device_type !== undefined) return create.device_type;
  const md = create.metadata;
  if (md?.os === 'zephyr' || md?.wasm_runtime === 'wamr') return 'esp32';
  const tagged = splitTags(md?.tags ?? []).labels['device_type'];
  if (tagged !== undefined && tagged !== '') return tagged;
  return DEFAULT_DEVICE_TYPE;
}

/** Dialect: `wamr` when `wasm_runtime == "wamr"`, `os == "zephyr"` or the device type starts with `esp32` (case-insensitive), else `wasmtime`. */
export function deriveDialect(create: CreateMessage, deviceType: string = deriveDeviceType(create)): Dialect {
  const md = create.metadata;
  if (md?.wasm_runtime === 'wamr' || md?.os === 'zephyr' || deviceType.toLowerCase().startsWith('esp32')) return 'wamr';
  return 'wasmtime';
}

/**
 * Everything the plane records about a proplet from its create (PROTOCOL.md "Derivation").
 *
 * Decisions beyond the text:
 * - an empty or `null` `capabilities` list says nothing, so the tags rule applies (`["wasm"]` + plain tags);
 * - labels are merged lowest to highest: `k=v` tags, then `location` as `propeller.io/site`, then
 *   `propeller.labels` (what our own proplet states explicitly wins);
 * - capacity is decided per resource: `propeller.capacity.cpu`/`.memory`, else memory from
 *   `total_memory_bytes`; CPU stays unknown;
 * - a `k=v` tag whose key or value is out of the label bounds (317 / 1,024 characters) is dropped;
 * - an owner is kept only when complete (namespace, name, uid), as owner references need all three;
 * - the legacy `smq_channel_id` is parsed but not carried: the channel is the topic's;
 * - operator overrides (API values that win over the device) are the registry's business, not this function's.
 */
export function deriveRegistration(create: CreateMessage, context: RegistrationContext): DerivedRegistration {
  const md = create.metadata;
  const ext = create.propeller;
  const tags = md?.tags ?? [];
  const { plain, labels: tagLabels } = splitTags(tags);

  const deviceType = deriveDeviceType(create);
  const capabilities =
    create.capabilities !== undefined && create.capabilities.length > 0 ? unique(create.capabilities) : unique(['wasm', ...plain]);

  const labels: Record<string, string> = { ...tagLabels };
  if (md?.location !== undefined && fitsLabel(SITE_LABEL, md.location)) labels[SITE_LABEL] = md.location;
  Object.assign(labels, ext?.labels ?? {});

  const capacity: Capacity = {};
  if (ext?.capacity?.cpu !== undefined) capacity.cpu = ext.capacity.cpu;
  if (ext?.capacity?.memory !== undefined) capacity.memory = ext.capacity.memory;
  else if (md?.total_memory_bytes !== undefined) capacity.memory = bytesToQuantity(md.total_memory_bytes);

  const metadata: PropletMetadata = { tags: [...tags] };
  const set = <K extends keyof PropletMetadata>(key: K, value: PropletMetadata[K] | undefined): void => {
    if (value !== undefined) metadata[key] = value;
  };
  set('namespace', create.namespace);
  set('description', md?.description);
  set('location', md?.location);
  set('ip', md?.ip);
  set('environment', md?.environment);
  set('os', md?.os);
  set('hostname', md?.hostname);
  set('cpuArch', md?.cpu_arch);
  set('totalMemoryBytes', md?.total_memory_bytes);
  set('propletVersion', md?.proplet_version);
  set('wasmRuntime', md?.wasm_runtime);

  const out: DerivedRegistration = {
    propletId: create.proplet_id,
    type: ext?.type ?? 'external',
    deviceType,
    capabilities,
    labels,
    capacity,
    dialect: deriveDialect(create, deviceType),
    channel: {
      domainId: context.domainId ?? DEFAULT_DOMAIN_ID,
      channelId: context.channel,
      layout: context.layout,
      perPropletTopics: ext?.per_proplet_topics ?? false,
    },
    metadata,
  };
  if (ext?.max_tasks !== undefined) out.maxTasks = ext.max_tasks;
  const owner = ext?.owner;
  if (owner?.namespace !== undefined && owner.uid !== undefined) out.owner = { namespace: owner.namespace, name: owner.name, uid: owner.uid };
  if (ext !== undefined) out.extensionVersion = ext.v;
  return out;
}
