import { isInvalid } from '@propeller/events';
import { gatewaySubscriptions, parseTopic, topicsFor, TOPIC_KINDS, type ParsedTopic } from './index';

describe('topicsFor', () => {
  const direct = topicsFor({ domainId: 'd1', channelId: 'ch1', layout: 'direct' });
  const messages = topicsFor({ domainId: 'd1', channelId: 'ch1', layout: 'messages' });

  it.each([
    ['create', direct.create, 'm/d1/c/ch1/control/proplet/create'],
    ['alive', direct.alive, 'm/d1/c/ch1/control/proplet/alive'],
    ['start', direct.start, 'm/d1/c/ch1/control/manager/start'],
    ['stop', direct.stop, 'm/d1/c/ch1/control/manager/stop'],
    ['start for a proplet', direct.startFor('p-7'), 'm/d1/c/ch1/control/manager/start/p-7'],
    ['stop for a proplet', direct.stopFor('p-7'), 'm/d1/c/ch1/control/manager/stop/p-7'],
    ['task_started', direct.taskStarted, 'm/d1/c/ch1/control/proplet/task_started'],
    ['results', direct.results, 'm/d1/c/ch1/control/proplet/results'],
    ['metrics', direct.metrics, 'm/d1/c/ch1/control/proplet/metrics'],
    ['task_metrics', direct.taskMetrics, 'm/d1/c/ch1/control/proplet/task_metrics'],
    ['registry request', direct.registryRequest, 'm/d1/c/ch1/registry/proplet'],
    ['registry chunk', direct.registryChunk, 'm/d1/c/ch1/registry/server'],
  ])('builds the direct-layout %s topic', (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it.each([
    ['create', messages.create, 'm/d1/c/ch1/messages/control/proplet/create'],
    ['alive', messages.alive, 'm/d1/c/ch1/messages/control/proplet/alive'],
    ['start', messages.start, 'm/d1/c/ch1/messages/control/manager/start'],
    ['start for a proplet', messages.startFor('p-7'), 'm/d1/c/ch1/messages/control/manager/start/p-7'],
    ['stop for a proplet', messages.stopFor('p-7'), 'm/d1/c/ch1/messages/control/manager/stop/p-7'],
    ['results', messages.results, 'm/d1/c/ch1/messages/control/proplet/results'],
    ['registry request', messages.registryRequest, 'm/d1/c/ch1/messages/registry/proplet'],
    ['registry chunk', messages.registryChunk, 'm/d1/c/ch1/messages/registry/server'],
  ])('builds the messages-layout %s topic', (_name, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it.each([
    ['a channel with a slash', { domainId: 'd', channelId: 'a/b', layout: 'direct' as const }, 'channelId'],
    ['a wildcard channel', { domainId: 'd', channelId: '+', layout: 'direct' as const }, 'channelId'],
    ['an empty domain', { domainId: '', channelId: 'c', layout: 'direct' as const }, 'domainId'],
    ['a channel with a control character', { domainId: 'd', channelId: 'a\tb', layout: 'direct' as const }, 'channelId'],
    ['a domain with #', { domainId: 'd#', channelId: 'c', layout: 'messages' as const }, 'domainId'],
  ])('refuses %s with an InvalidError naming the field', (_name, ref, field) => {
    let error: unknown;
    try {
      topicsFor(ref);
    } catch (e) {
      error = e;
    }
    expect(isInvalid(error)).toBe(true);
    expect((error as { issues: { field: string }[] }).issues[0]?.field).toBe(field);
  });

  it('refuses a proplet id that is not one topic level', () => {
    expect(() => direct.startFor('a/b')).toThrow(/propletId/);
    expect(() => direct.stopFor('')).toThrow(/propletId/);
  });

  it('has per-proplet topics only for start and stop', () => {
    expect(() => direct.of('results', 'p1')).toThrow(/per-proplet/);
  });
});

describe('parseTopic', () => {
  it.each<[string, ParsedTopic | null]>([
    ['m/d1/c/ch1/control/proplet/create', { domainId: 'd1', channelId: 'ch1', layout: 'direct', kind: 'create' }],
    ['m/d1/c/ch1/messages/control/proplet/alive', { domainId: 'd1', channelId: 'ch1', layout: 'messages', kind: 'alive' }],
    ['m/d1/c/ch1/control/manager/start/p-7', { domainId: 'd1', channelId: 'ch1', layout: 'direct', kind: 'start', propletId: 'p-7' }],
    ['m/d1/c/ch1/messages/control/manager/stop/p-7', { domainId: 'd1', channelId: 'ch1', layout: 'messages', kind: 'stop', propletId: 'p-7' }],
    ['m/d1/c/ch1/registry/proplet', { domainId: 'd1', channelId: 'ch1', layout: 'direct', kind: 'registry_request' }],
    ['m/d1/c/ch1/messages/registry/server', { domainId: 'd1', channelId: 'ch1', layout: 'messages', kind: 'registry_chunk' }],
    // A channel literally called `messages`: the channel is always the fourth level.
    ['m/d1/c/messages/control/proplet/create', { domainId: 'd1', channelId: 'messages', layout: 'direct', kind: 'create' }],
    ['m/d1/c/messages/messages/control/proplet/create', { domainId: 'd1', channelId: 'messages', layout: 'messages', kind: 'create' }],
    ['m/d1/c/control/control/proplet/results', { domainId: 'd1', channelId: 'control', layout: 'direct', kind: 'results' }],
    ['m/d1/c/registry/messages/registry/proplet', { domainId: 'd1', channelId: 'registry', layout: 'messages', kind: 'registry_request' }],
    // Not ours.
    ['m/d1/c/ch1/control/proplet/unknown', null],
    ['m/d1/c/ch1/control/proplet/create/extra', null],
    ['m/d1/c/ch1/control/proplet/results/p-7', null],
    ['m/d1/c/ch1/messages/control/proplet', null],
    ['m/d1/x/ch1/control/proplet/create', null],
    ['x/d1/c/ch1/control/proplet/create', null],
    ['m//c/ch1/control/proplet/create', null],
    ['m/d1/c//control/proplet/create', null],
    ['m/d1/c/ch1/control/manager/start/', null],
    ['m/d1/c/ch1/other/messages/control/proplet/create', null],
    ['', null],
    ['$SYS/broker/uptime', null],
  ])('parses %j', (topic, expected) => {
    expect(parseTopic(topic)).toEqual(expected);
  });

  it.each(TOPIC_KINDS.flatMap((kind) => (['direct', 'messages'] as const).map((layout) => [kind, layout] as const)))(
    'round-trips the %s topic in the %s layout',
    (kind, layout) => {
      const topics = topicsFor({ domainId: 'dom', channelId: 'messages', layout });
      expect(parseTopic(topics.of(kind))).toEqual({ domainId: 'dom', channelId: 'messages', layout, kind });
    },
  );
});

/** Minimal MQTT filter matching (`+` one level, `#` the rest), to check the filters against real topics. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('gatewaySubscriptions', () => {
  const subs = gatewaySubscriptions('dom');

  it('subscribes to every device topic of every channel in both layouts, with the delivery-rule QoS', () => {
    expect(subs.map((s) => [s.filter, s.qos])).toEqual([
      ['m/dom/c/+/control/proplet/create', 1],
      ['m/dom/c/+/control/proplet/alive', 0],
      ['m/dom/c/+/control/proplet/task_started', 1],
      ['m/dom/c/+/control/proplet/results', 1],
      ['m/dom/c/+/control/proplet/metrics', 0],
      ['m/dom/c/+/control/proplet/task_metrics', 0],
      ['m/dom/c/+/registry/proplet', 1],
      ['m/dom/c/+/messages/control/proplet/create', 1],
      ['m/dom/c/+/messages/control/proplet/alive', 0],
      ['m/dom/c/+/messages/control/proplet/task_started', 1],
      ['m/dom/c/+/messages/control/proplet/results', 1],
      ['m/dom/c/+/messages/control/proplet/metrics', 0],
      ['m/dom/c/+/messages/control/proplet/task_metrics', 0],
      ['m/dom/c/+/messages/registry/proplet', 1],
    ]);
  });

  it.each([
    ['ch1', 'direct'],
    ['ch2', 'messages'],
    ['messages', 'direct'],
    ['messages', 'messages'],
  ] as const)('matches each device topic of channel %s (%s layout) with exactly one filter of the right kind', (channelId, layout) => {
    const topics = topicsFor({ domainId: 'dom', channelId, layout });
    for (const kind of ['create', 'alive', 'task_started', 'results', 'metrics', 'task_metrics', 'registry_request'] as const) {
      const hits = subs.filter((s) => matches(s.filter, topics.of(kind)));
      expect(hits.map((h) => [h.kind, h.layout])).toEqual([[kind, layout]]);
    }
  });

  it('never matches what the plane publishes or another domain', () => {
    const topics = topicsFor({ domainId: 'dom', channelId: 'ch1', layout: 'messages' });
    const other = topicsFor({ domainId: 'other', channelId: 'ch1', layout: 'direct' });
    for (const topic of [topics.start, topics.startFor('p1'), topics.stop, topics.registryChunk, other.create]) {
      expect(subs.filter((s) => matches(s.filter, topic))).toEqual([]);
    }
  });

  it('prefixes every filter with $share/<group>/ for shared subscriptions, keeping the QoS', () => {
    const shared = gatewaySubscriptions('dom', { shareGroup: 'gw' });
    expect(shared).toHaveLength(subs.length);
    shared.forEach((s, i) => {
      expect(s.filter).toBe(`$share/gw/${subs[i]?.filter}`);
      expect(s.qos).toBe(subs[i]?.qos);
    });
  });

  it('refuses a share group or domain that is not one topic level', () => {
    expect(() => gatewaySubscriptions('dom', { shareGroup: 'a/b' })).toThrow(/shareGroup/);
    expect(() => gatewaySubscriptions('+')).toThrow(/domainId/);
  });
});
