import type { ActiveProplet } from '../proplet/state';
import { propletRow } from './row';

const AT = '2026-11-27T13:00:00.000Z';
const LATER = '2026-11-27T13:05:00.000Z';

const state: ActiveProplet = {
  status: 'active',
  type: 'external',
  reported: {
    deviceType: 'esp32',
    capabilities: ['wasm', 'sensor'],
    labels: { 'propeller.io/site': 'plant-a', room: 'hall' },
    capacity: { memory: '512Ki' },
    maxTasks: undefined,
    dialect: 'wamr',
    channel: { domainId: 'propeller', channelId: 'esp32-7', layout: 'messages', perPropletTopics: true },
    metadata: { os: 'zephyr' },
    owner: undefined,
    extensionVersion: undefined,
  },
  overrides: { labels: { room: 'kitchen' }, capacity: undefined, deviceType: 'esp32-s3', capabilities: undefined },
  cordoned: true,
  health: 'unknown',
  healthChangedAt: undefined,
  registeredAt: AT,
};

describe('proplets row of an active proplet', () => {
  it('writes the effective values: operator overrides over device reports, labels merged', () => {
    expect(propletRow('esp32-7', state, { occurredAt: LATER, seq: 42 })).toMatchObject({
      id: 'esp32-7',
      device_type: 'esp32-s3',
      capabilities: ['wasm', 'sensor'],
      labels: JSON.stringify({ 'propeller.io/site': 'plant-a', room: 'kitchen' }),
      capacity: JSON.stringify({ memory: '512Ki' }),
      cordoned: true,
      domain_id: 'propeller',
      channel_id: 'esp32-7',
      layout: 'messages',
      per_proplet_topics: true,
      dialect: 'wamr',
      updated_at: LATER,
      last_seq: 42,
    });
  });

  it('writes absent optional values as SQL nulls, not as missing columns', () => {
    expect(propletRow('esp32-7', state, { occurredAt: LATER, seq: 1 })).toMatchObject({ max_tasks: null, owner: null, extension_version: null });
  });

  it('dates the health of a proplet nobody judged yet from its registration, else from the last change', () => {
    expect(propletRow('esp32-7', state, { occurredAt: LATER, seq: 1 }).observed_at).toBe(AT);
    expect(propletRow('esp32-7', { ...state, health: 'healthy', healthChangedAt: LATER }, { occurredAt: LATER, seq: 2 }).observed_at).toBe(LATER);
  });

  it('stores the folded state so the projection can fold the next event with the decider', () => {
    expect(JSON.parse(propletRow('esp32-7', state, { occurredAt: LATER, seq: 1 }).state as string)).toMatchObject({
      status: 'active',
      overrides: { labels: { room: 'kitchen' }, deviceType: 'esp32-s3' },
    });
  });
});
