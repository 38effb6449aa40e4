import {
  MAX_PAYLOAD_BYTES,
  isFailedResult,
  metricsTimeMs,
  parseAlive,
  parseCreate,
  parseInbound,
  parseMessage,
  parseMetrics,
  parseRegistryChunk,
  parseRegistryRequest,
  parseResults,
  parseStart,
  parseStop,
  parseTaskMetrics,
  parseTaskStarted,
  type ParseResult,
  type RejectionReason,
  type TopicKind,
} from './index';

const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

function accepted<T>(result: ParseResult<T>): T {
  if (!result.ok) throw new Error(`expected acceptance, got ${result.reason}: ${result.message}`);
  return result.value;
}

describe('rejections', () => {
  it.each<[string, TopicKind, string | Uint8Array, RejectionReason, string | undefined, RegExp]>([
    ['empty payload', 'create', '', 'not_json', undefined, /not JSON/],
    ['truncated JSON', 'alive', '{"proplet_id":"p1"', 'not_json', undefined, /not JSON/],
    ['binary garbage', 'results', new Uint8Array([0xff, 0xfe, 0x00, 0x01]), 'not_json', undefined, /not JSON/],
    ['a JSON array', 'create', '[1,2]', 'not_object', undefined, /got an array/],
    ['JSON null', 'alive', 'null', 'not_object', undefined, /got null/],
    ['a JSON string', 'results', '"done"', 'not_object', undefined, /got string/],
    ['a JSON number', 'metrics', '42', 'not_object', undefined, /got number: 42/],
    ['create without proplet_id', 'create', '{"device_type":"esp32"}', 'missing_field', 'proplet_id', /proplet_id is missing/],
    ['create with proplet_id null', 'create', '{"proplet_id":null}', 'missing_field', 'proplet_id', /proplet_id is missing/],
    ['create with proplet_id ""', 'create', '{"proplet_id":""}', 'invalid_field', 'proplet_id', /non-empty string, got ""/],
    ['create with a numeric proplet_id', 'create', '{"proplet_id":42}', 'invalid_field', 'proplet_id', /got 42/],
    ['create with a 201-byte proplet_id', 'create', JSON.stringify({ proplet_id: 'x'.repeat(201) }), 'invalid_field', 'proplet_id', /at most 200 bytes/],
    ['create with a numeric tag', 'create', '{"proplet_id":"p","metadata":{"tags":["a",7]}}', 'invalid_field', 'metadata.tags[1]', /expected a string, got 7/],
    ['create with capabilities as a string', 'create', '{"proplet_id":"p","capabilities":"wasm"}', 'invalid_field', 'capabilities', /list of strings/],
    ['create with a bad extension type', 'create', '{"proplet_id":"p","propeller":{"v":1,"type":"vm"}}', 'invalid_field', 'propeller.type', /"k8s" or "external", got "vm"/],
    ['create with a bad capacity', 'create', '{"proplet_id":"p","propeller":{"capacity":{"memory":"lots"}}}', 'invalid_field', 'propeller.capacity.memory', /Kubernetes quantity/],
    ['create with an empty label key', 'create', '{"proplet_id":"p","propeller":{"labels":{"":"x"}}}', 'invalid_field', 'propeller.labels[""]', /non-empty label keys/],
    ['create with a long label value', 'create', JSON.stringify({ proplet_id: 'p', propeller: { labels: { 'propeller.io/site': 'x'.repeat(1025) } } }), 'invalid_field', 'propeller.labels["propeller.io/site"]', /at most 1024/],
    ['create with a signed capacity', 'create', '{"proplet_id":"p","propeller":{"capacity":{"cpu":"+2"}}}', 'invalid_field', 'propeller.capacity.cpu', /got "\+2"/],
    ['create with an owner without name', 'create', '{"proplet_id":"p","propeller":{"owner":{"namespace":"n"}}}', 'missing_field', 'propeller.owner.name', /missing/],
    ['create with a numeric label', 'create', '{"proplet_id":"p","propeller":{"labels":{"zone":3}}}', 'invalid_field', 'propeller.labels.zone', /string value/],
    ['create with negative memory', 'create', '{"proplet_id":"p","metadata":{"total_memory_bytes":-1}}', 'invalid_field', 'metadata.total_memory_bytes', /non-negative integer/],
    ['alive without status', 'alive', '{"proplet_id":"p"}', 'missing_field', 'status', /status is missing/],
    ['alive with an unknown status', 'alive', '{"proplet_id":"p","status":"busy"}', 'invalid_field', 'status', /"alive" or "offline", got "busy"/],
    ['alive with a bad load', 'alive', '{"proplet_id":"p","status":"alive","load":{"running_tasks":-2}}', 'invalid_field', 'load.running_tasks', /non-negative/],
    ['start without a module', 'start', '{"id":"t","name":"add"}', 'missing_field', 'file', /file \(base64 Wasm\) or image_url/],
    ['start with non-base64 file', 'start', '{"id":"t","name":"add","file":"not base64!"}', 'invalid_field', 'file', /base64/],
    ['start with an object input', 'start', `{"id":"t","name":"add","file":"${ADD_WASM}","inputs":[{}]}`, 'invalid_field', 'inputs[0]', /string or a number/],
    ['stop without id', 'stop', '{"proplet_id":"p"}', 'missing_field', 'id', /id is missing/],
    ['task_started without proplet_id', 'task_started', '{"task_id":"t"}', 'missing_field', 'proplet_id', /missing/],
    ['task_started with attempt 0', 'task_started', '{"task_id":"t","proplet_id":"p","attempt":0}', 'invalid_field', 'attempt', /positive integer, got 0/],
    ['results without task_id', 'results', '{"results":"42"}', 'missing_field', 'task_id', /task_id is missing/],
    ['metrics with a bad timestamp', 'metrics', '{"proplet_id":"p","timestamp":"yesterday"}', 'invalid_field', 'timestamp', /RFC 3339/],
    ['metrics with nanos out of range', 'metrics', '{"proplet_id":"p","timestamp":{"secs_since_epoch":1,"nanos_since_epoch":1000000000}}', 'invalid_field', 'timestamp', /secs_since_epoch/],
    ['metrics with a string cpu percent', 'metrics', '{"proplet_id":"p","cpu_metrics":{"percent":"high"}}', 'invalid_field', 'cpu_metrics.percent', /number/],
    ['task_metrics with metrics as a list', 'task_metrics', '{"task_id":"t","proplet_id":"p","metrics":[1]}', 'invalid_field', 'metrics', /object/],
    ['registry request without app_name', 'registry_request', '{}', 'missing_field', 'app_name', /app_name is missing/],
    ['registry chunk past its total', 'registry_chunk', '{"app_name":"a","chunk_idx":2,"total_chunks":2,"data":""}', 'invalid_field', 'chunk_idx', /below total_chunks/],
    ['registry chunk with bad data', 'registry_chunk', '{"app_name":"a","chunk_idx":0,"total_chunks":1,"data":"%%%"}', 'invalid_field', 'data', /base64/],
  ])('rejects %s', (_name, kind, payload, reason, field, message) => {
    const result = parseMessage(kind, payload);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe(reason);
    expect(result.field).toBe(field);
    expect(result.message).toMatch(message);
  });

  it.each<[TopicKind, number]>([
    ['create', 64 * 1024],
    ['alive', 64 * 1024],
    ['metrics', 64 * 1024],
    ['results', 1024 * 1024],
  ])('rejects a %s over its %i-byte limit as too_large before parsing it, and accepts one at the limit', (kind, limit) => {
    expect(MAX_PAYLOAD_BYTES[kind]).toBe(limit);
    const body = (n: number): string => {
      const head = kind === 'results' ? '{"task_id":"t","results":"' : kind === 'alive' ? '{"proplet_id":"p","status":"alive","pad":"' : '{"proplet_id":"p","pad":"';
      return head + 'x'.repeat(n - head.length - 2) + '"}';
    };
    expect(Buffer.byteLength(body(limit))).toBe(limit);
    expect(parseMessage(kind, body(limit)).ok).toBe(true);
    const over = parseMessage(kind, Buffer.from(body(limit + 1)));
    expect(over).toEqual({ ok: false, reason: 'too_large', message: `${kind} payload is ${limit + 1} bytes, over the limit of ${limit} bytes` });
  });

  it('counts bytes, not characters, against the limit', () => {
    const multiByte = `{"proplet_id":"p","pad":"${'é'.repeat(33_000)}"}`; // 66,000+ bytes, 33,000+ characters
    expect(multiByte.length).toBeLessThan(64 * 1024);
    expect(parseCreate(multiByte)).toMatchObject({ ok: false, reason: 'too_large' });
  });
});

describe('accepted messages', () => {
  it('ignores unknown keys and reads a Buffer payload', () => {
    const alive = accepted(parseAlive(Buffer.from('{"proplet_id":"p1","status":"alive","firmware":"x","namespace":"embedded"}')));
    expect(alive).toEqual({ proplet_id: 'p1', status: 'alive', namespace: 'embedded' });
  });

  it('reads an alive with load and the offline last-will', () => {
    expect(accepted(parseAlive('{"proplet_id":"p1","status":"alive","load":{"running_tasks":2,"cpu_percent":12.5,"memory_bytes":1048576}}')).load).toEqual({
      running_tasks: 2,
      cpu_percent: 12.5,
      memory_bytes: 1048576,
    });
    expect(accepted(parseAlive('{"proplet_id":"p1","status":"offline","load":null}'))).toEqual({ proplet_id: 'p1', status: 'offline' });
  });

  it.each([
    ['null lists are empty', '{"proplet_id":"p","capabilities":null,"metadata":{"tags":null}}', { capabilities: [], metadata: { tags: [] } }],
    ['null and "" strings are absent', '{"proplet_id":"p","device_type":"","namespace":null,"metadata":{"os":"","ip":null}}', { device_type: undefined, namespace: undefined, metadata: { os: undefined, ip: undefined } }],
    ['empty strings inside lists are dropped', '{"proplet_id":"p","capabilities":["wasm","",""]}', { capabilities: ['wasm'] }],
    ['a numeric-string memory size is a number', '{"proplet_id":"p","metadata":{"total_memory_bytes":"4096"}}', { metadata: { total_memory_bytes: 4096 } }],
    ['the extension version defaults to 1', '{"proplet_id":"p","propeller":{"per_proplet_topics":true}}', { propeller: { v: 1, per_proplet_topics: true } }],
    ['a numeric capacity becomes a quantity', '{"proplet_id":"p","propeller":{"capacity":{"cpu":2}}}', { propeller: { capacity: { cpu: '2' } } }],
  ])('normalises a create: %s', (_name, payload, expected) => {
    expect(accepted(parseCreate(payload))).toMatchObject(expected);
  });

  it.each([
    ['wasmtime', `{"id":"t1","name":"add","state":0,"file":"${ADD_WASM}","inputs":["10","32"],"cli_args":[],"env":{"A":"1"},"daemon":false,"proplet_id":"p1","task_id":"t1","attempt":1}`, ['10', '32']],
    ['wamr', `{"id":"t1","name":"main","state":0,"file":"${ADD_WASM}","inputs":[10,32],"proplet_id":"p1"}`, [10, 32]],
    ['image_url only, inputs null', '{"id":"t1","name":"add","image_url":"registry/add:1","inputs":null}', []],
  ])('reads a %s start', (_name, payload, inputs) => {
    const start = accepted(parseStart(payload));
    expect(start.inputs).toEqual(inputs);
    expect(start.cli_args).toEqual(expect.any(Array));
    expect(start.env).toEqual(expect.any(Object));
  });

  it.each([
    ['plain', '{"id":"t1","proplet_id":"p1"}', { id: 't1', proplet_id: 'p1' }],
    ['broadcast', '{"id":"t1","broadcast":true}', { id: 't1', broadcast: true }],
    ['wamr', '{"id":"t1","proplet_id":"p1","name":"main","state":"stopped"}', { id: 't1', proplet_id: 'p1', name: 'main', state: 'stopped' }],
  ])('reads a %s stop', (_name, payload, expected) => {
    expect(accepted(parseStop(payload))).toEqual(expected);
  });

  it('reads a task_started', () => {
    expect(accepted(parseTaskStarted('{"task_id":"w1","proplet_id":"p1","attempt":2}'))).toEqual({ task_id: 'w1', proplet_id: 'p1', attempt: 2 });
  });

  it.each([
    ['a string result', '{"task_id":"w1","proplet_id":"p1","results":"42"}', '42', false],
    ['an object result', '{"task_id":"w1","results":{"sum":42,"parts":[1,2]}}', { sum: 42, parts: [1, 2] }, false],
    ['an ESP32 result without proplet_id or error', '{"task_id":"w1","results":42}', 42, false],
    ['an empty error', '{"task_id":"w1","results":"42","error":""}', '42', false],
    ['a null error', '{"task_id":"w1","results":"42","error":null}', '42', false],
    ['a failure', '{"task_id":"w1","proplet_id":"p1","results":null,"error":"Task was cancelled or panicked"}', null, true],
    ['a structured error', '{"task_id":"w1","error":{"code":7}}', undefined, true],
  ])('reads %s', (_name, payload, results, failed) => {
    const r = accepted(parseResults(payload));
    expect(r.results).toEqual(results);
    expect(isFailedResult(r)).toBe(failed);
  });

  it('keeps a structured error as its JSON text', () => {
    expect(accepted(parseResults('{"task_id":"w1","error":{"code":7}}')).error).toBe('{"code":7}');
  });

  it.each([
    ['{secs_since_epoch, nanos_since_epoch}', { secs_since_epoch: 1_700_000_000, nanos_since_epoch: 250_000_000 }, { form: 'epoch', epochMs: 1_700_000_000_250 }, 1_700_000_000_250],
    ['device uptime in ms', 123_456, { form: 'uptime', uptimeMs: 123_456 }, 5_000],
    ['an RFC 3339 string', '2026-11-27T10:00:00.500Z', { form: 'rfc3339', epochMs: Date.UTC(2026, 10, 27, 10, 0, 0, 500) }, Date.UTC(2026, 10, 27, 10, 0, 0, 500)],
    ['an RFC 3339 string with an offset', '2026-11-27T12:00:00+02:00', { form: 'rfc3339', epochMs: Date.UTC(2026, 10, 27, 10) }, Date.UTC(2026, 10, 27, 10)],
    ['no timestamp', undefined, undefined, 5_000],
  ])('reads a metrics timestamp given as %s', (_name, timestamp, expected, wallClock) => {
    const m = accepted(parseMetrics({ proplet_id: 'p1', timestamp, cpu_metrics: { user_seconds: 1.5, system_seconds: 0.5, percent: 12 }, memory_metrics: { rss_bytes: 1024, heap_bytes: 512 } }));
    expect(m.timestamp).toEqual(expected);
    expect(metricsTimeMs(m.timestamp, 5_000)).toBe(wallClock);
    expect(m.memory_metrics).toEqual({ rss_bytes: 1024, heap_bytes: 512 });
  });

  it('reads task_metrics with aggregated null', () => {
    const tm = accepted(parseTaskMetrics('{"task_id":"w1","proplet_id":"p1","metrics":{"cpu_percent":3},"aggregated":null,"timestamp":1000}'));
    expect(tm).toEqual({ task_id: 'w1', proplet_id: 'p1', metrics: { cpu_percent: 3 }, aggregated: undefined, timestamp: { form: 'uptime', uptimeMs: 1000 } });
  });

  it('reads registry requests and chunks', () => {
    expect(accepted(parseRegistryRequest('{"app_name":"registry/add:1"}'))).toEqual({ app_name: 'registry/add:1' });
    expect(accepted(parseRegistryChunk(`{"app_name":"a","chunk_idx":0,"total_chunks":1,"data":"${ADD_WASM}"}`))).toEqual({
      app_name: 'a',
      chunk_idx: 0,
      total_chunks: 1,
      data: ADD_WASM,
    });
  });
});

describe('parseInbound', () => {
  it('parses topic and payload together and narrows the message by kind', () => {
    const inbound = parseInbound('m/d/c/ch/messages/control/proplet/alive', '{"proplet_id":"p1","status":"offline"}');
    expect(inbound?.topic).toEqual({ domainId: 'd', channelId: 'ch', layout: 'messages', kind: 'alive' });
    const m = inbound?.message;
    if (m?.ok !== true) throw new Error('expected an accepted alive');
    expect(m.value.kind).toBe('alive');
    if (m.value.kind === 'alive') expect(m.value.value.status).toBe('offline');
  });

  it('returns the rejection with the topic, so it can be counted by kind and reason', () => {
    expect(parseInbound('m/d/c/ch/control/proplet/results', '{"results":1}')).toEqual({
      topic: { domainId: 'd', channelId: 'ch', layout: 'direct', kind: 'results' },
      message: { ok: false, reason: 'missing_field', field: 'task_id', message: expect.stringContaining('task_id is missing') },
    });
  });

  it('answers null for a topic that is not ours, whatever the payload', () => {
    expect(parseInbound('m/d/c/ch/control/proplet/other', '{}')).toBeNull();
  });
});
