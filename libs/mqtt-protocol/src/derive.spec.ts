import { PropletRegisteredDataSchema } from '@propeller/events';
import { bytesToQuantity, deriveRegistration, parseCreate, type DerivedRegistration, type RegistrationContext } from './index';
import { createShapeSamples } from './testing';

const at: RegistrationContext = { channel: 'ch1', layout: 'direct' };

function derive(payload: Record<string, unknown>, context: RegistrationContext = at): DerivedRegistration {
  const parsed = parseCreate(JSON.stringify(payload));
  if (!parsed.ok) throw new Error(`create rejected: ${parsed.message}`);
  return deriveRegistration(parsed.value, context);
}

const FULL_RUST_METADATA = {
  description: 'edge box in hall B',
  tags: ['gpu', 'zone=b', 'camera'],
  location: 'paris-1',
  ip: '10.0.0.7',
  environment: 'prod',
  os: 'linux',
  hostname: 'edge-7',
  cpu_arch: 'aarch64',
  total_memory_bytes: 8 * 2 ** 30,
  proplet_version: '0.3.0',
  wasm_runtime: 'wasmtime-internal',
};

describe('deriveRegistration: each create shape of PROTOCOL.md', () => {
  it.each<[string, Record<string, unknown>, Partial<DerivedRegistration>]>([
    [
      'hybrid form',
      { proplet_id: 'esp-1', device_type: 'esp32', capabilities: ['wasm', 'sensor', 'wifi'] },
      { propletId: 'esp-1', type: 'external', deviceType: 'esp32', capabilities: ['wasm', 'sensor', 'wifi'], labels: {}, capacity: {}, dialect: 'wamr', channel: { domainId: 'propeller', channelId: 'ch1', layout: 'direct', perPropletTopics: false } },
    ],
    [
      'hybrid form of a Linux device',
      { proplet_id: 'rpi-1', device_type: 'raspberry-pi', capabilities: ['wasm', 'camera'] },
      { deviceType: 'raspberry-pi', capabilities: ['wasm', 'camera'], dialect: 'wasmtime' },
    ],
    [
      'upstream form with full metadata (Rust proplet)',
      { proplet_id: 'rust-1', namespace: 'default', metadata: FULL_RUST_METADATA },
      {
        deviceType: 'linux',
        capabilities: ['wasm', 'gpu', 'camera'],
        labels: { zone: 'b', 'propeller.io/site': 'paris-1' },
        capacity: { memory: '8Gi' },
        dialect: 'wasmtime',
        metadata: {
          namespace: 'default',
          description: 'edge box in hall B',
          tags: ['gpu', 'zone=b', 'camera'],
          location: 'paris-1',
          ip: '10.0.0.7',
          environment: 'prod',
          os: 'linux',
          hostname: 'edge-7',
          cpuArch: 'aarch64',
          totalMemoryBytes: 8 * 2 ** 30,
          propletVersion: '0.3.0',
          wasmRuntime: 'wasmtime-internal',
        },
      },
    ],
    [
      'upstream form of an ESP32 (zephyr, wamr)',
      { proplet_id: 'esp-2', namespace: 'embedded', metadata: { os: 'zephyr', wasm_runtime: 'wamr', total_memory_bytes: 524288 } },
      { deviceType: 'esp32', capabilities: ['wasm'], dialect: 'wamr', capacity: { memory: '512Ki' }, metadata: { namespace: 'embedded', os: 'zephyr', wasmRuntime: 'wamr', totalMemoryBytes: 524288, tags: [] } },
    ],
    [
      'upstream form with only wasm_runtime wamr',
      { proplet_id: 'esp-3', metadata: { wasm_runtime: 'wamr' } },
      { deviceType: 'esp32', dialect: 'wamr' },
    ],
    [
      'upstream form with only os zephyr',
      { proplet_id: 'esp-4', metadata: { os: 'zephyr' } },
      { deviceType: 'esp32', dialect: 'wamr' },
    ],
    [
      'upstream form with empty metadata',
      { proplet_id: 'up-1', namespace: 'default', metadata: {} },
      { deviceType: 'linux', capabilities: ['wasm'], labels: {}, capacity: {}, dialect: 'wasmtime', metadata: { tags: [] } },
    ],
    [
      'upstream form with "" everywhere',
      {
        proplet_id: 'up-2',
        namespace: '',
        device_type: '',
        metadata: { description: '', tags: [], location: '', ip: '', environment: '', os: '', hostname: '', cpu_arch: '', total_memory_bytes: '', proplet_version: '', wasm_runtime: '' },
      },
      { deviceType: 'linux', capabilities: ['wasm'], labels: {}, capacity: {}, dialect: 'wasmtime', metadata: { tags: [] } },
    ],
    [
      'upstream form with null metadata',
      { proplet_id: 'up-3', metadata: null, capabilities: null },
      { deviceType: 'linux', capabilities: ['wasm'], dialect: 'wasmtime', metadata: { tags: [] } },
    ],
    [
      'a device_type=<x> tag',
      { proplet_id: 'tag-1', metadata: { tags: ['device_type=jetson', 'gpu'] } },
      { deviceType: 'jetson', capabilities: ['wasm', 'gpu'], labels: { device_type: 'jetson' }, dialect: 'wasmtime' },
    ],
    [
      'a device_type=esp32-s3 tag (wamr by device type)',
      { proplet_id: 'tag-2', metadata: { tags: ['device_type=ESP32-S3'] } },
      { deviceType: 'ESP32-S3', dialect: 'wamr' },
    ],
    [
      'legacy form',
      { proplet_id: 'old-1', smq_channel_id: 'ch-legacy' },
      { deviceType: 'linux', capabilities: ['wasm'], dialect: 'wasmtime', metadata: { tags: [] } },
    ],
    [
      'hybrid form with the extension',
      {
        proplet_id: 'ours-1',
        device_type: 'linux',
        capabilities: ['wasm', 'gpu'],
        propeller: {
          v: 1,
          type: 'k8s',
          labels: { team: 'ml' },
          capacity: { cpu: '2', memory: '512Mi' },
          max_tasks: 4,
          per_proplet_topics: true,
          owner: { namespace: 'prod', name: 'workers', uid: 'u-1' },
        },
      },
      {
        type: 'k8s',
        deviceType: 'linux',
        capabilities: ['wasm', 'gpu'],
        labels: { team: 'ml' },
        capacity: { cpu: '2', memory: '512Mi' },
        maxTasks: 4,
        channel: { domainId: 'propeller', channelId: 'ch1', layout: 'direct', perPropletTopics: true },
        owner: { namespace: 'prod', name: 'workers', uid: 'u-1' },
        extensionVersion: 1,
        dialect: 'wasmtime',
      },
    ],
    [
      'our ESP32 firmware: upstream form with the extension',
      { proplet_id: 'fw-1', namespace: 'embedded', metadata: { os: 'zephyr', wasm_runtime: 'wamr' }, propeller: { v: 1, per_proplet_topics: true } },
      { type: 'external', deviceType: 'esp32', dialect: 'wamr', channel: { domainId: 'propeller', channelId: 'ch1', layout: 'direct', perPropletTopics: true }, extensionVersion: 1 },
    ],
    [
      'mixed: hybrid + upstream + legacy + extension',
      {
        proplet_id: 'mix-1',
        device_type: 'rpi4',
        capabilities: ['wasm', 'sensor'],
        smq_channel_id: 'old',
        metadata: { tags: ['camera', 'zone=a', 'device_type=ignored'], location: 'lyon', os: 'linux', total_memory_bytes: 1000 },
        propeller: { labels: { zone: 'z', 'propeller.io/site': 'lyon-2' }, capacity: { cpu: '500m' } },
      },
      {
        deviceType: 'rpi4',
        // explicit capabilities win over tags
        capabilities: ['wasm', 'sensor'],
        // the extension's labels win over tags and location
        labels: { zone: 'z', device_type: 'ignored', 'propeller.io/site': 'lyon-2' },
        // cpu from the extension, memory from total_memory_bytes (1000 is not a whole binary unit)
        capacity: { cpu: '500m', memory: '1000' },
        dialect: 'wasmtime',
        extensionVersion: 1,
      },
    ],
    [
      'an explicit empty capabilities list (falls back to tags)',
      { proplet_id: 'cap-1', capabilities: [], metadata: { tags: ['wifi', 'wifi'] } },
      { capabilities: ['wasm', 'wifi'] },
    ],
    [
      'device_type esp32 with a wasmtime runtime (device type decides)',
      { proplet_id: 'odd-1', device_type: 'esp32', metadata: { wasm_runtime: 'wasmtime-internal' } },
      { deviceType: 'esp32', dialect: 'wamr' },
    ],
  ])('derives the registration of the %s', (_name, payload, expected) => {
    expect(derive(payload)).toMatchObject(expected);
  });

  it('records the domain, channel and layout the create arrived on', () => {
    expect(derive({ proplet_id: 'p1' }, { domainId: 'd7', channel: 'messages', layout: 'messages' }).channel).toEqual({
      domainId: 'd7',
      channelId: 'messages',
      layout: 'messages',
      perPropletTopics: false,
    });
  });

  it('keeps the legacy smq_channel_id out of the registration: the channel is the topic’s', () => {
    expect(derive({ proplet_id: 'old', smq_channel_id: 'x' }).metadata).toEqual({ tags: [] });
  });

  it.each([
    ['without uid', { namespace: 'prod', name: 'workers' }],
    ['without namespace', { name: 'workers', uid: 'u-1' }],
  ])('drops an incomplete owner (%s)', (_name, owner) => {
    expect(derive({ proplet_id: 'p', propeller: { owner } })).not.toHaveProperty('owner');
  });

  it('drops a tag that cannot be a label instead of failing the registration', () => {
    const reg = derive({ proplet_id: 'p', metadata: { tags: [`k=${'v'.repeat(1025)}`, `${'k'.repeat(318)}=v`, 'ok=1'], location: 'x'.repeat(1025) } });
    expect(reg.labels).toEqual({ ok: '1' });
  });

  it('leaves out what is unknown rather than inventing it', () => {
    const reg = derive({ proplet_id: 'bare' });
    expect(reg).toEqual({
      propletId: 'bare',
      type: 'external',
      deviceType: 'linux',
      capabilities: ['wasm'],
      labels: {},
      capacity: {},
      dialect: 'wasmtime',
      channel: { domainId: 'propeller', channelId: 'ch1', layout: 'direct', perPropletTopics: false },
      metadata: { tags: [] },
    });
  });

  it('never shares label or capability arrays between registrations and their input', () => {
    const parsed = parseCreate('{"proplet_id":"p","capabilities":["wasm"],"metadata":{"tags":["t"]},"propeller":{"labels":{"a":"1"}}}');
    if (!parsed.ok) throw new Error(parsed.message);
    const reg = deriveRegistration(parsed.value, at);
    reg.capabilities.push('x');
    reg.labels['b'] = '2';
    reg.metadata.tags.push('y');
    expect(parsed.value.capabilities).toEqual(['wasm']);
    expect(parsed.value.metadata?.tags).toEqual(['t']);
    expect(parsed.value.propeller?.labels).toEqual({ a: '1' });
  });
});

describe('bytesToQuantity', () => {
  it.each([
    [536870912, '512Mi'],
    [8 * 2 ** 30, '8Gi'],
    [1536 * 1024, '1536Ki'],
    [1000, '1000'],
    [0, '0'],
  ])('writes %i bytes as %s', (bytes, quantity) => {
    expect(bytesToQuantity(bytes)).toBe(quantity);
  });
});

describe('contract with @propeller/events', () => {
  it.each(createShapeSamples('ev').map((sample) => [sample.name, sample.payload] as const))(
    'the registration derived from the %s create is valid PropletRegistered data as it stands',
    (_name, payload) => {
      const { propletId: _id, extensionVersion: _v, ...data } = derive(payload);
      const parsed = PropletRegisteredDataSchema.safeParse({ ...data, registeredAt: '2026-11-27T13:00:00.000Z' });
      expect(parsed.error?.issues ?? []).toEqual([]);
      // Nothing of ours is silently stripped by the event schema.
      expect(parsed.data).toEqual({ ...data, registeredAt: '2026-11-27T13:00:00.000Z' });
    },
  );
});
