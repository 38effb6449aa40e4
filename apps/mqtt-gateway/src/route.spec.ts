import { buildAlive, parseInbound, topicsFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { malformedSamples } from '@propeller/mqtt-protocol/testing';
import type { DirectoryStatus } from './directory';
import { excerpt, inboxMsgId, MAX_EXCERPT_CHARS, route, type Action } from './route';

const place: ChannelRef = { domainId: 'd1', channelId: 'ch', layout: 'direct' };
const now = new Date('2026-11-27T12:00:00.000Z');

function routeOf(topic: string, payload: string, status: DirectoryStatus = 'unknown'): Action[] {
  return route(topic, payload, parseInbound(topic, payload), { now, writer: 'gw-1', directory: () => status });
}

describe('route', () => {
  it('turns a create into proplet.register with origin create and the derived data', () => {
    const [a] = routeOf(topicsFor(place).create, JSON.stringify({ proplet_id: 'p1', device_type: 'esp32', capabilities: ['wasm', 'sensor'] }));
    expect(a).toMatchObject({
      type: 'register',
      data: { propletId: 'p1', origin: 'create', deviceType: 'esp32', dialect: 'wamr', channel: { domainId: 'd1', channelId: 'ch', layout: 'direct', perPropletTopics: false } },
    });
  });

  it.each<[DirectoryStatus, string[]]>([
    ['unknown', ['register', 'liveness']],
    ['registering', ['liveness']],
    ['known', ['liveness']],
    ['deregistered', ['liveness']],
  ])('an alive from a %s proplet gives %j', (status, types) => {
    const m = buildAlive(place, { propletId: 'p1' });
    const actions = routeOf(m.topic, m.payload, status);
    expect(actions.map((a) => a.type)).toEqual(types);
    expect(actions.find((a) => a.type === 'register')).toEqual(types.includes('register') ? expect.objectContaining({ data: expect.objectContaining({ origin: 'heartbeat' }) }) : undefined);
  });

  it('writes a heartbeat with its load in camelCase, stamped with the clock and the writer', () => {
    const m = buildAlive(place, { propletId: 'p1', load: { runningTasks: 1, cpuPercent: 3, memoryBytes: 10 } });
    expect(routeOf(m.topic, m.payload, 'known')).toEqual([
      { type: 'liveness', propletId: 'p1', value: { status: 'alive', at: now.toISOString(), source: 'heartbeat', load: { runningTasks: 1, cpuPercent: 3, memoryBytes: 10 }, writer: 'gw-1' } },
    ]);
  });

  it('writes a known proplet last-will as offline from lastWill, and ignores an unknown one', () => {
    const m = buildAlive(place, { propletId: 'p1', status: 'offline' });
    expect(routeOf(m.topic, m.payload, 'known')).toEqual([expect.objectContaining({ type: 'liveness', value: expect.objectContaining({ status: 'offline', source: 'lastWill' }) })]);
    expect(routeOf(m.topic, m.payload, 'unknown')).toEqual([]);
  });

  it.each(malformedSamples().map((s) => [s.kind, s.reason, s] as const))('rejects a malformed %s as %s with a bounded excerpt', (kind, reason, sample) => {
    const topic = topicsFor(place).of(kind);
    const [a] = routeOf(topic, sample.payload);
    expect(a).toMatchObject({ type: 'reject', kind, reason, topic });
    expect(a?.type === 'reject' && a.excerpt.length).toBeLessThanOrEqual(MAX_EXCERPT_CHARS + 1);
  });

  it('rejects a topic that is not a device topic', () => {
    expect(route('m/d1/other', '{}', null, { now, writer: 'gw', directory: () => 'unknown' })).toEqual([expect.objectContaining({ type: 'reject', kind: 'unknown', reason: 'unknown_topic' })]);
  });

  it('keeps results by wire id with a message id that only a redelivery of the same bytes shares', () => {
    const topic = topicsFor(place).results;
    const payload = JSON.stringify({ task_id: 'w1', results: 42 });
    const [a] = routeOf(topic, payload);
    expect(a).toMatchObject({ type: 'inbox', kind: 'results', id: 'w1', msgId: inboxMsgId(topic, payload), record: { message: { task_id: 'w1', results: 42 } } });
    expect(inboxMsgId(topic, payload)).not.toBe(inboxMsgId(topic, JSON.stringify({ task_id: 'w1', results: 43 })));
  });

  it('keeps a metrics sample at the time the device stamped it', () => {
    const topic = topicsFor(place).metrics;
    const [a] = routeOf(topic, JSON.stringify({ proplet_id: 'p1', timestamp: { secs_since_epoch: 1_700_000_000, nanos_since_epoch: 0 } }));
    expect(a).toMatchObject({ type: 'metrics', scope: 'proplet', id: 'p1', record: { at: new Date(1_700_000_000_000).toISOString(), receivedAt: now.toISOString() } });
  });

  it('bounds an excerpt', () => {
    expect(excerpt('x'.repeat(10_000))).toHaveLength(MAX_EXCERPT_CHARS + 1);
    expect(excerpt(Buffer.from('short'))).toBe('short');
  });
});
