import {
  buildAlive,
  buildCreate,
  buildLastWill,
  buildMetrics,
  buildRegistryChunks,
  buildRegistryRequest,
  buildResults,
  buildTaskMetrics,
  buildTaskStarted,
  deriveRegistration,
  parseAlive,
  parseCreate,
  parseMetrics,
  parseRegistryChunk,
  parseRegistryRequest,
  parseResults,
  parseTaskMetrics,
  parseTaskStarted,
  parseTopic,
  reassembleChunks,
  type ChannelRef,
  type ParseResult,
  type RegistryChunkMessage,
} from './index';

const channel: ChannelRef = { domainId: 'd', channelId: 'ch', layout: 'messages' };

function value<T>(r: ParseResult<T>): T {
  if (!r.ok) throw new Error(`${r.reason}: ${r.message}`);
  return r.value;
}

describe('device-side builders', () => {
  it('builds a create with the extension that the gateway derives back as stated', () => {
    const out = buildCreate(channel, {
      propletId: 'sim-1',
      deviceType: 'esp32',
      capabilities: ['wasm', 'sensor'],
      metadata: { os: 'zephyr', wasmRuntime: 'wamr', tags: ['zone=a'], location: 'site-1', totalMemoryBytes: 524288 },
      propeller: { perPropletTopics: true, labels: { fleet: 'sim' }, maxTasks: 1 },
    });
    expect(out.topic).toBe('m/d/c/ch/messages/control/proplet/create');
    expect(JSON.parse(out.payload)).toMatchObject({
      proplet_id: 'sim-1',
      metadata: { wasm_runtime: 'wamr', total_memory_bytes: 524288 },
      propeller: { v: 1, per_proplet_topics: true, max_tasks: 1 },
    });
    const topic = parseTopic(out.topic);
    if (topic === null) throw new Error(`not a topic of ours: ${out.topic}`);
    expect(topic).toMatchObject({ kind: 'create', layout: 'messages', channelId: 'ch' });
    const reg = deriveRegistration(value(parseCreate(out.payload)), { domainId: topic.domainId, channel: topic.channelId, layout: topic.layout });
    expect(reg).toMatchObject({
      propletId: 'sim-1',
      deviceType: 'esp32',
      dialect: 'wamr',
      capabilities: ['wasm', 'sensor'],
      labels: { zone: 'a', 'propeller.io/site': 'site-1', fleet: 'sim' },
      capacity: { memory: '512Ki' },
      channel: { domainId: 'd', channelId: 'ch', layout: 'messages', perPropletTopics: true },
      maxTasks: 1,
      extensionVersion: 1,
    });
  });

  it('builds an upstream-style create without the extension or empty fields', () => {
    expect(JSON.parse(buildCreate({ ...channel, layout: 'direct' }, { propletId: 'rust-1', namespace: 'default' }).payload)).toEqual({
      proplet_id: 'rust-1',
      namespace: 'default',
    });
  });

  it('builds heartbeats with load and the offline last-will', () => {
    const beat = buildAlive(channel, { propletId: 'sim-1', load: { runningTasks: 1, cpuPercent: 5, memoryBytes: 2048 } });
    expect(beat.topic).toBe('m/d/c/ch/messages/control/proplet/alive');
    expect(beat.qos).toBe(0);
    expect(value(parseAlive(beat.payload))).toEqual({ proplet_id: 'sim-1', status: 'alive', load: { running_tasks: 1, cpu_percent: 5, memory_bytes: 2048 } });
    const will = buildLastWill(channel, { propletId: 'sim-1' });
    expect(will.topic).toBe(beat.topic);
    expect(value(parseAlive(will.payload))).toEqual({ proplet_id: 'sim-1', status: 'offline' });
  });

  it('builds task_started and results that parse back', () => {
    const started = buildTaskStarted(channel, { wireId: 'w1', propletId: 'sim-1', attempt: 2 });
    expect(parseTopic(started.topic)?.kind).toBe('task_started');
    expect(value(parseTaskStarted(started.payload))).toEqual({ task_id: 'w1', proplet_id: 'sim-1', attempt: 2 });

    const ok = buildResults(channel, { wireId: 'w1', propletId: 'sim-1', results: '42' });
    expect(parseTopic(ok.topic)?.kind).toBe('results');
    expect([started.qos, ok.qos]).toEqual([1, 1]);
    expect(JSON.parse(ok.payload)).toEqual({ task_id: 'w1', proplet_id: 'sim-1', results: '42' });

    const ours = buildResults(channel, { wireId: 'w2', propletId: 'sim-1', attempt: 2, results: 7 });
    expect(value(parseResults(ours.payload))).toEqual({ task_id: 'w2', proplet_id: 'sim-1', attempt: 2, results: 7 });

    const failed = buildResults(channel, { wireId: 'w1', results: null, error: 'trap: unreachable' });
    expect(value(parseResults(failed.payload))).toEqual({ task_id: 'w1', results: null, error: 'trap: unreachable' });
  });

  it.each([
    ['a Date (as secs/nanos)', new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), { secs_since_epoch: Date.UTC(2026, 0, 2, 3, 4, 5) / 1000, nanos_since_epoch: 678_000_000 }, { form: 'epoch', epochMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) }],
    ['uptime ms', 98_765, 98_765, { form: 'uptime', uptimeMs: 98_765 }],
    ['an RFC 3339 string', '2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z', { form: 'rfc3339', epochMs: Date.UTC(2026, 0, 2, 3, 4, 5) }],
  ])('builds metrics stamped with %s', (_name, timestamp, wire, parsed) => {
    const out = buildMetrics(channel, { propletId: 'sim-1', timestamp, cpu: { userSeconds: 1, systemSeconds: 2, percent: 3 }, memory: { rssBytes: 4096, heapBytes: 100 } });
    expect(parseTopic(out.topic)?.kind).toBe('metrics');
    expect(JSON.parse(out.payload)).toEqual({
      proplet_id: 'sim-1',
      timestamp: wire,
      cpu_metrics: { user_seconds: 1, system_seconds: 2, percent: 3 },
      memory_metrics: { rss_bytes: 4096, heapBytes: 100 },
    });
    expect(value(parseMetrics(out.payload)).timestamp).toEqual(parsed);
  });

  it('builds task_metrics that parse back', () => {
    const out = buildTaskMetrics(channel, { wireId: 'w1', propletId: 'sim-1', metrics: { cpu_percent: 7 }, timestamp: 10 });
    expect(parseTopic(out.topic)?.kind).toBe('task_metrics');
    expect(value(parseTaskMetrics(out.payload))).toEqual({ task_id: 'w1', proplet_id: 'sim-1', metrics: { cpu_percent: 7 }, aggregated: undefined, timestamp: { form: 'uptime', uptimeMs: 10 } });
  });

  it('asks the registry for a module and reads the chunked answer back', () => {
    const request = buildRegistryRequest(channel, 'registry/add:1');
    expect(request.topic).toBe('m/d/c/ch/messages/registry/proplet');
    expect(value(parseRegistryRequest(request.payload))).toEqual({ app_name: 'registry/add:1' });

    const module = Buffer.from('AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', 'base64');
    const answer = buildRegistryChunks(channel, 'registry/add:1', module, 16);
    expect(answer).toHaveLength(3);
    expect(new Set(answer.map((a) => a.topic))).toEqual(new Set(['m/d/c/ch/messages/registry/server']));
    const chunks: RegistryChunkMessage[] = answer.map((a) => value(parseRegistryChunk(a.payload)));
    const back = reassembleChunks(chunks);
    expect(back.ok && back.bytes.equals(module)).toBe(true);
  });
});
