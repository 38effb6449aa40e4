import {
  EVENT_CATALOG,
  EVENT_TYPES,
  type EventEnvelope,
  HEADER_SCHEMA,
  HEADER_TYPE,
  InvalidError,
  decodeEvent,
  encodeEvent,
  eventHeaders,
  eventTypesOf,
  isInvalid,
  makeEnvelope,
  parseEvent,
  parseStoredEvent,
} from './index';
import { EXAMPLE_AT, EXAMPLE_EVENT_DATA, EXAMPLE_TASK_ID, exampleEnvelope, testUuid } from './testing';

function invalid(fn: () => unknown): InvalidError {
  try {
    fn();
  } catch (e) {
    if (isInvalid(e)) return e;
    throw e;
  }
  throw new Error('expected an InvalidError, nothing was thrown');
}

// A PropletRegistered as v1 producers wrote it: one channelId string, no domain, no layout.
const v1Registered = {
  id: '6c1f7a52-2f4b-4c1a-9a53-0b7c7d7e8f90',
  type: 'PropletRegistered',
  schemaVersion: 1,
  aggregate: 'proplet',
  aggregateId: 'rpi-2',
  occurredAt: '2025-06-01T08:00:00Z',
  correlationId: 'corr-1',
  causationId: null,
  traceparent: null,
  data: {
    type: 'external',
    deviceType: 'rpi',
    capabilities: ['wasm'],
    labels: { 'propeller.io/site': 'plant-a' },
    capacity: { memory: '1Gi' },
    dialect: 'wasmtime',
    channelId: 'legacy-channel',
    metadata: { os: 'linux' },
    registeredAt: '2025-06-01T08:00:00Z',
  },
};

describe('parseEvent', () => {
  it('reads a v1 PropletRegistered as v2, with its channel as {domainId, channelId, layout, perPropletTopics}', () => {
    const event = parseEvent(v1Registered);
    expect(event.type).toBe('PropletRegistered');
    expect(event.schemaVersion).toBe(2);
    if (event.type !== 'PropletRegistered') throw new Error('narrowing failed');
    expect(event.data.channel).toEqual({ domainId: 'propeller', channelId: 'legacy-channel', layout: 'messages', perPropletTopics: false });
    expect(event.data).not.toHaveProperty('channelId');
    expect(event.data.labels).toEqual({ 'propeller.io/site': 'plant-a' });
  });

  it('does not change the stored v1 event while upcasting it', () => {
    const stored = structuredClone(v1Registered);
    parseEvent(stored);
    expect(stored).toEqual(v1Registered);
  });

  it('reads a current v2 event unchanged', () => {
    const env = exampleEnvelope('PropletRegistered');
    expect(parseEvent(JSON.parse(JSON.stringify(env)))).toEqual(env);
  });

  it('names the old version and the field when a v1 event is broken', () => {
    const e = invalid(() => parseEvent({ ...v1Registered, data: { ...v1Registered.data, channelId: 7 } }));
    expect(e.message).toMatch(/^PropletRegistered v1: data\.channelId: /);
    expect(e.issues.map((i) => i.field)).toEqual(['data.channelId']);
  });

  it('names the current version and the field when a v2 event is broken', () => {
    const env = exampleEnvelope('PropletRegistered');
    const e = invalid(() => parseEvent({ ...env, data: { ...env.data, dialect: 'wasm3' } }));
    expect(e.message).toMatch(/^PropletRegistered v2: data\.dialect: /);
  });

  it('refuses a version newer than the reader knows', () => {
    const e = invalid(() => parseEvent({ ...exampleEnvelope('PropletRegistered'), schemaVersion: 3 }));
    expect(e.issues[0]?.field).toBe('schemaVersion');
    expect(e.message).toContain('PropletRegistered');
  });

  it('refuses an unknown type with a clear InvalidError naming it', () => {
    const e = invalid(() => parseEvent({ ...exampleEnvelope('TaskStarted'), type: 'TaskTeleported' }));
    expect(e.issues[0]).toEqual(expect.objectContaining({ field: 'type', value: 'TaskTeleported' }));
    expect(e.message).toContain('TaskTeleported');
  });

  it('refuses an event filed under another aggregate', () => {
    const e = invalid(() => parseEvent({ ...exampleEnvelope('TaskStarted'), aggregate: 'proplet' }));
    expect(e.issues[0]?.field).toBe('aggregate');
  });

  it('refuses a broken envelope naming the envelope field', () => {
    const e = invalid(() => parseEvent({ ...exampleEnvelope('TaskStarted'), id: 'not-a-uuid' }));
    expect(e.message).toMatch(/^event envelope: id: /);
    expect(invalid(() => parseEvent('TaskStarted')).issues[0]?.field).toBe('(root)');
  });

  it('keeps the stream sequence of a stored event', () => {
    const stored = { ...v1Registered, seq: 17 };
    expect(parseStoredEvent(stored)).toEqual(expect.objectContaining({ seq: 17, schemaVersion: 2, type: 'PropletRegistered' }));
  });

  it('narrows data on type', () => {
    const e: EventEnvelope = parseEvent(exampleEnvelope('TaskScheduled'));
    switch (e.type) {
      case 'TaskScheduled':
        expect(e.data.propletId).toBe('esp32-7');
        break;
      default:
        throw new Error(`unexpected ${e.type}`);
    }
  });
});

describe('the event catalog', () => {
  it('has an upcaster for every older version of every type', () => {
    for (const type of EVENT_TYPES) {
      const d = EVENT_CATALOG[type];
      const from = d.upcasters.map((u) => u.fromVersion).sort((a, b) => a - b);
      expect({ type, from }).toEqual({ type, from: Array.from({ length: d.schemaVersion - 1 }, (_, i) => i + 1) });
    }
  });

  it('lists the types of each aggregate', () => {
    expect(eventTypesOf('site')).toEqual(['SiteEvacuationPaused', 'SiteEvacuationResumed']);
    expect(eventTypesOf('proplet')).toHaveLength(7);
    expect(eventTypesOf('task')).toContain('TaskResultDiscarded');
    expect(eventTypesOf('proplet').length + eventTypesOf('task').length + eventTypesOf('site').length).toBe(EVENT_TYPES.length);
  });
});

describe('makeEnvelope', () => {
  const base = {
    aggregateId: EXAMPLE_TASK_ID,
    meta: { correlationId: 'corr-9', causationId: 'cmd-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    id: '11111111-2222-4333-8444-555555555555',
    occurredAt: new Date('2026-11-27T13:00:00.000Z'),
  };

  it('wraps an event at its current schema version with the ids and clock it was given', () => {
    const env = makeEnvelope({ ...base, event: { type: 'TaskStarted', data: { startedAt: EXAMPLE_AT } } });
    expect(env).toEqual({
      id: base.id,
      type: 'TaskStarted',
      schemaVersion: 1,
      aggregate: 'task',
      aggregateId: EXAMPLE_TASK_ID,
      occurredAt: '2026-11-27T13:00:00.000Z',
      correlationId: 'corr-9',
      causationId: 'cmd-1',
      traceparent: base.meta.traceparent,
      data: { startedAt: EXAMPLE_AT },
    });
  });

  it('writes PropletRegistered as v2', () => {
    const env = makeEnvelope({ ...base, aggregateId: 'rpi-2', event: { type: 'PropletRegistered', data: EXAMPLE_EVENT_DATA.PropletRegistered } });
    expect(env.schemaVersion).toBe(2);
  });

  it('fills absent causation and trace with null', () => {
    const env = makeEnvelope({ ...base, meta: { correlationId: 'c' }, event: { type: 'TaskStarted', data: { startedAt: EXAMPLE_AT } } });
    expect([env.causationId, env.traceparent]).toEqual([null, null]);
  });

  it('refuses invalid data before anything is written', () => {
    const e = invalid(() => makeEnvelope({ ...base, event: { type: 'TaskScheduled', data: { ...EXAMPLE_EVENT_DATA.TaskScheduled, attempt: -1 } } }));
    expect(e.message).toMatch(/^TaskScheduled v1: data\.attempt: /);
  });

  it('refuses an aggregate that is not the event type’s', () => {
    const e = invalid(() => makeEnvelope({ ...base, aggregate: 'proplet', event: { type: 'TaskStarted', data: { startedAt: EXAMPLE_AT } } }));
    expect(e.issues[0]?.field).toBe('aggregate');
  });

  it('refuses an id that is not a UUID, and an aggregate id over 200 bytes', () => {
    expect(invalid(() => makeEnvelope({ ...base, id: 'x', event: { type: 'TaskStarted', data: { startedAt: EXAMPLE_AT } } })).issues[0]?.field).toBe('id');
    const long = 'é'.repeat(101);
    expect(invalid(() => makeEnvelope({ ...base, aggregateId: long, event: { type: 'TaskStarted', data: { startedAt: EXAMPLE_AT } } })).issues[0]?.field).toBe(
      'aggregateId',
    );
  });

  it('survives encode → decode as the same event', () => {
    for (const type of EVENT_TYPES) {
      const env = exampleEnvelope(type, { id: testUuid() });
      expect(decodeEvent(encodeEvent(env))).toEqual(env);
    }
  });

  it('refuses bytes that are not JSON', () => {
    expect(invalid(() => decodeEvent(new TextEncoder().encode('{nope'))).message).toMatch(/^event envelope: not JSON/);
  });
});

describe('eventHeaders', () => {
  it('carries the type and the schema version as strings', () => {
    const env = exampleEnvelope('PropletRegistered');
    expect(eventHeaders(env)).toEqual({ 'Propeller-Type': 'PropletRegistered', 'Propeller-Schema': '2' });
    expect([HEADER_TYPE, HEADER_SCHEMA]).toEqual(['Propeller-Type', 'Propeller-Schema']);
  });
});
