import {
  DEFAULT_TASK_TIMEOUT_MS,
  EVENT_CATALOG,
  EVENT_TYPES,
  type DomainEventType,
  InvalidError,
  isInvalid,
  upcastEventData,
} from './index';
import { EXAMPLE_EVENT_DATA } from './testing';

type Data = Record<string, unknown>;
const example = (type: DomainEventType): Data => structuredClone(EXAMPLE_EVENT_DATA[type]) as Data;
const withField = (type: DomainEventType, patch: Data): Data => ({ ...example(type), ...patch });
const without = (type: DomainEventType, field: string): Data => {
  const d = example(type);
  delete d[field];
  return d;
};

function invalidFields(type: DomainEventType, data: unknown): string[] {
  try {
    upcastEventData(type, EVENT_CATALOG[type].schemaVersion, data);
  } catch (e) {
    if (!isInvalid(e)) throw e;
    return (e as InvalidError).issues.map((i) => i.field);
  }
  throw new Error(`${type}: broken data was accepted`);
}

// One broken variant per event type and the field the error must name.
const broken: { [T in DomainEventType]: [data: Data, field: string] } = {
  PropletRegistered: [withField('PropletRegistered', { channel: { domainId: 'd', channelId: 'c', layout: 'sideways', perPropletTopics: true } }), 'data.channel.layout'],
  PropletUpdated: [withField('PropletUpdated', { capacity: { cpu: '2 cores' } }), 'data.capacity.cpu'],
  PropletLabelled: [withField('PropletLabelled', { capabilities: 'sensor' }), 'data.capabilities'],
  PropletCordoned: [without('PropletCordoned', 'cordonedAt'), 'data.cordonedAt'],
  PropletUncordoned: [withField('PropletUncordoned', { uncordonedAt: 'yesterday' }), 'data.uncordonedAt'],
  PropletHealthChanged: [withField('PropletHealthChanged', { to: 'sleepy' }), 'data.to'],
  PropletDeregistered: [withField('PropletDeregistered', { reason: '' }), 'data.reason'],
  SiteEvacuationPaused: [withField('SiteEvacuationPaused', { share: 1.5 }), 'data.share'],
  SiteEvacuationResumed: [withField('SiteEvacuationResumed', { by: 'cron' }), 'data.by'],
  TaskCreated: [withField('TaskCreated', { inputs: [true] }), 'data.inputs[0]'],
  TaskUpdated: [withField('TaskUpdated', { maxAttempts: 0 }), 'data.maxAttempts'],
  TaskStarted: [without('TaskStarted', 'startedAt'), 'data.startedAt'],
  TaskScheduled: [withField('TaskScheduled', { attempt: 0 }), 'data.attempt'],
  TaskDispatched: [without('TaskDispatched', 'propletId'), 'data.propletId'],
  TaskRunning: [withField('TaskRunning', { evidence: 'rumour' }), 'data.evidence'],
  TaskCompleted: [without('TaskCompleted', 'wireId'), 'data.wireId'],
  TaskFailed: [withField('TaskFailed', { reason: 'bad luck' }), 'data.reason'],
  TaskStopped: [withField('TaskStopped', { attempt: 1.5 }), 'data.attempt'],
  TaskEvacuated: [without('TaskEvacuated', 'fromPropletId'), 'data.fromPropletId'],
  TaskUnschedulable: [withField('TaskUnschedulable', { reasons: [] }), 'data.reasons'],
  TaskResultDiscarded: [withField('TaskResultDiscarded', { reason: 'whatever' }), 'data.reason'],
  TaskArchived: [withField('TaskArchived', { status: 'running' }), 'data.status'],
  TaskDeleted: [without('TaskDeleted', 'deletedAt'), 'data.deletedAt'],
};

describe('event schemas', () => {
  it.each(EVENT_TYPES)('%s accepts its example', (type) => {
    expect(upcastEventData(type, EVENT_CATALOG[type].schemaVersion, example(type))).toEqual(expect.objectContaining(example(type)));
  });

  it.each(EVENT_TYPES)('%s rejects a broken example and names the field', (type) => {
    const [data, field] = broken[type];
    expect(invalidFields(type, data)).toContain(field);
  });

  it('names the type and the version in the message', () => {
    expect(() => upcastEventData('TaskScheduled', 1, broken.TaskScheduled[0])).toThrow(/^TaskScheduled v1: data\.attempt: /);
  });

  it('gives every event type a one-word aggregate of its own name', () => {
    for (const type of EVENT_TYPES) {
      expect(type.toLowerCase().startsWith(EVENT_CATALOG[type].aggregate)).toBe(true);
    }
  });
});

describe('TaskCreated', () => {
  const minimal = { name: 'add', createdAt: '2026-11-27T13:00:00Z' };

  it('fills the documented defaults', () => {
    expect(upcastEventData('TaskCreated', 1, minimal)).toEqual({
      name: 'add',
      functionName: 'add',
      module: null,
      imageUrl: null,
      inputs: [],
      cliArgs: [],
      env: {},
      daemon: false,
      propletSelector: {},
      preferredPropletType: 'any',
      resourceRequirements: {},
      maxAttempts: 3,
      timeoutMs: DEFAULT_TASK_TIMEOUT_MS,
      labels: {},
      createdAt: '2026-11-27T13:00:00Z',
    });
  });

  it('gives daemons no timeout by default, but keeps an explicit one', () => {
    expect(upcastEventData('TaskCreated', 1, { ...minimal, daemon: true }).timeoutMs).toBeNull();
    expect(upcastEventData('TaskCreated', 1, { ...minimal, daemon: true, timeoutMs: 5000 }).timeoutMs).toBe(5000);
  });

  it('refuses a module and an imageUrl together', () => {
    const data = { ...minimal, imageUrl: 'registry/x:1', module: { digest: `sha256:${'0'.repeat(64)}`, size: 1, source: 'inline' } };
    expect(invalidFields('TaskCreated', data)).toEqual(['data.imageUrl']);
  });

  it('requires the url of a module fetched from a url', () => {
    const data = { ...minimal, module: { digest: `sha256:${'0'.repeat(64)}`, size: 1, source: 'url' } };
    expect(invalidFields('TaskCreated', data)).toEqual(['data.module.url']);
  });

  it('refuses a digest that is not sha256 hex', () => {
    const data = { ...minimal, module: { digest: 'md5:abc', size: 1, source: 'inline' } };
    expect(invalidFields('TaskCreated', data)).toEqual(['data.module.digest']);
  });

  it('stores results of any JSON shape unchanged', () => {
    const results = { out: [1, 'two', null, { nested: true }] };
    expect(upcastEventData('TaskCompleted', 1, { ...example('TaskCompleted'), results }).results).toEqual(results);
  });
});

describe('proplet events', () => {
  it.each(['500m', '2', '1.5', '512Mi', '1G', '1e3', '.5'])('accepts the Kubernetes quantity %s', (cpu) => {
    expect(upcastEventData('PropletUpdated', 1, { capacity: { cpu }, updatedAt: '2026-11-27T13:00:00Z' }).capacity).toEqual({ cpu });
  });

  it.each(['', '-1', '2 cores', '512MB', 'Mi'])('rejects the quantity %j', (memory) => {
    expect(invalidFields('PropletUpdated', { capacity: { memory }, updatedAt: '2026-11-27T13:00:00Z' })).toEqual(['data.capacity.memory']);
  });

  it('refuses a health change to the same health', () => {
    expect(invalidFields('PropletHealthChanged', withField('PropletHealthChanged', { from: 'offline', to: 'offline' }))).toEqual(['data.to']);
  });

  it('refuses an update or a labelling that changes nothing', () => {
    expect(invalidFields('PropletUpdated', { updatedAt: '2026-11-27T13:00:00Z' })).toEqual(['data']);
    expect(invalidFields('PropletLabelled', { labelledAt: '2026-11-27T13:00:00Z' })).toEqual(['data']);
  });

  it('lets an operator clear an override with null', () => {
    expect(upcastEventData('PropletLabelled', 1, { deviceType: null, labelledAt: '2026-11-27T13:00:00Z' }).deviceType).toBeNull();
  });

  it('refuses a channel segment that would break an MQTT topic', () => {
    const channel = { domainId: 'propeller', channelId: 'a/b', layout: 'messages', perPropletTopics: true };
    expect(invalidFields('PropletRegistered', withField('PropletRegistered', { channel }))).toEqual(['data.channel.channelId']);
  });

  it('refuses site counts that exceed the total', () => {
    expect(invalidFields('SiteEvacuationPaused', withField('SiteEvacuationPaused', { offline: 9, failed: 2, total: 10 }))).toEqual(['data.total']);
  });
});
