import type { MqttClient } from 'mqtt';
import { waitFor } from '@propeller/eventstore/testing';
import { ADD_WASM, listen, MAIN_WASM, mqttClient, openDispatchWorld, type DispatchWorld } from './testing';

// A REST task reaches a plain MQTT client (raw mqtt, JSON literals: no project code on the device side) as
// the start its dialect expects, on its channel, layout and topic; the device's result completes the task and
// GET /tasks/{id}/results returns it. Real NATS, Postgres, Mosquitto; registry, scheduler, API, gateway and
// dispatcher in-process on this file's own prefix, schema and MQTT domain.

type Json = Record<string, unknown>;

describe('dispatch: REST task → device start → device result → completed', () => {
  let d: DispatchWorld;
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    d = await openDispatchWorld();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(devices.map((c) => c.endAsync().catch(() => undefined)));
    await d?.close();
  });

  async function device(): Promise<MqttClient> {
    const c = await mqttClient({ protocolVersion: 5 });
    devices.push(c);
    return c;
  }
  async function createTask(body: Json, headers: Record<string, string> = {}): Promise<string> {
    const res = await d.w.http('POST', '/tasks', { start: true, ...body }, headers);
    expect(res.status).toBe(201);
    return String((res.body as Json)['id']);
  }
  async function completed(id: string): Promise<Json> {
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'completed', `task ${id} completed`);
    return (await d.w.http('GET', `/tasks/${id}/results`)).body as Json;
  }

  it('sends an upstream Rust proplet (shared topic, direct layout) a wasmtime start with string inputs and the request trace, and completes on its result', async () => {
    await d.proplet('rust-1', { channelId: 'ch-rust', layout: 'direct', perPropletTopics: false, dialect: 'wasmtime' });
    const dev = await device();
    const inbox = await listen(dev, `m/${d.domainId}/c/ch-rust/control/manager/start`);

    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const id = await createTask({ name: 'add', file: ADD_WASM, inputs: [10, 32], proplet_id: 'rust-1' }, { traceparent });
    const start = await inbox.next((m) => m['id'] === id, 'the start on the shared topic');
    // The trace of the REST request travels to the device as the MQTT 5 user property.
    expect(inbox.messages.find((m) => m.json['id'] === id)?.userProperties).toEqual({ traceparent });
    expect(start).toEqual({
      id,
      name: 'add',
      state: 0,
      file: ADD_WASM,
      inputs: ['10', '32'],
      cli_args: [],
      env: {},
      daemon: false,
      latent: false,
      encrypted: false,
      proplet_id: 'rust-1',
    });
    // Upstream proplets never say task_started: the broker's acceptance made it running.
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'running', 'running after the PUBACK');

    await dev.publishAsync(`m/${d.domainId}/c/ch-rust/control/proplet/results`, JSON.stringify({ task_id: id, proplet_id: 'rust-1', results: '42' }), { qos: 1 });
    const results = await completed(id);
    expect(results).toMatchObject({ task_id: id, status: 'completed', state: 3, results: '42', error: null, proplet_id: 'rust-1', attempt: 1 });
  }, 30_000);

  it('sends an ESP32 on its own channel (direct layout) a wamr start: main, numeric inputs, under 1,023 bytes; its result without proplet_id completes the task', async () => {
    await d.proplet('esp32-1', { channelId: 'ch-esp32-1', layout: 'direct', perPropletTopics: false, dialect: 'wamr' });
    const dev = await device();
    const inbox = await listen(dev, `m/${d.domainId}/c/ch-esp32-1/control/manager/start`);

    const id = await createTask({ name: 'sum', file: MAIN_WASM, inputs: ['2', 3], proplet_id: 'esp32-1' });
    const start = await inbox.next((m) => m['id'] === id, 'the wamr start');
    expect(start).toEqual({ id, name: 'main', state: 0, file: MAIN_WASM, inputs: [2, 3], proplet_id: 'esp32-1' });
    expect(Buffer.byteLength(JSON.stringify(start))).toBeLessThanOrEqual(1023);

    await dev.publishAsync(`m/${d.domainId}/c/ch-esp32-1/control/proplet/results`, JSON.stringify({ task_id: id, results: '5' }), { qos: 1 });
    const results = await completed(id);
    expect(results).toMatchObject({ status: 'completed', results: '5', error: null, proplet_id: 'esp32-1' });
  }, 30_000);

  it('sends a proplet that asked for its own topics its start there (with task_id and attempt); task_started makes it running', async () => {
    await d.proplet('ours-1', { channelId: 'control', layout: 'messages', perPropletTopics: true, dialect: 'wasmtime' });
    const dev = await device();
    const own = await listen(dev, `m/${d.domainId}/c/control/messages/control/manager/start/ours-1`);
    const shared = await listen(await device(), `m/${d.domainId}/c/control/messages/control/manager/start`);

    const id = await createTask({ name: 'add', file: ADD_WASM, inputs: [1, 2], proplet_id: 'ours-1' });
    const start = await own.next((m) => m['id'] === id, 'the start on the per-proplet topic');
    expect(start).toMatchObject({ id, task_id: id, attempt: 1, name: 'add', inputs: ['1', '2'], proplet_id: 'ours-1', file: ADD_WASM });
    expect(shared.messages).toHaveLength(0);
    // Our proplets report the run themselves; until then the task stays scheduled (no dispatch evidence for them).
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'scheduled', 'scheduled in the read model');
    const timeline = (await d.w.http('GET', `/tasks/${id}/events`)).body as { events: Array<{ type: string }> };
    expect(timeline.events.map((e) => e.type)).not.toContain('TaskRunning');

    const base = `m/${d.domainId}/c/control/messages/control/proplet`;
    await dev.publishAsync(`${base}/task_started`, JSON.stringify({ task_id: id, proplet_id: 'ours-1', attempt: 1 }), { qos: 1 });
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'running', 'running after task_started');
    await dev.publishAsync(`${base}/results`, JSON.stringify({ task_id: id, proplet_id: 'ours-1', results: '3' }), { qos: 1 });
    expect(await completed(id)).toMatchObject({ results: '3', proplet_id: 'ours-1' });
    expect(shared.messages).toHaveLength(0);
  }, 30_000);

  it('fails a task whose result carries an error, and drops a result of an unknown wire id without stopping', async () => {
    await d.proplet('rust-2', { channelId: 'ch-rust-2', layout: 'direct', perPropletTopics: false, dialect: 'wasmtime' });
    const dev = await device();
    const inbox = await listen(dev, `m/${d.domainId}/c/ch-rust-2/control/manager/start`);
    const topic = `m/${d.domainId}/c/ch-rust-2/control/proplet/results`;
    await dev.publishAsync(topic, JSON.stringify({ task_id: 'not-a-wire-id', results: '1' }), { qos: 1 });

    const id = await createTask({ name: 'add', file: ADD_WASM, inputs: [1, 1], proplet_id: 'rust-2' });
    await inbox.next((m) => m['id'] === id, 'the start');
    await dev.publishAsync(topic, JSON.stringify({ task_id: id, proplet_id: 'rust-2', results: '', error: 'wasm trap: unreachable' }), { qos: 1 });
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'failed', 'failed on the error result');
    expect((await d.w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ status: 'failed', error: 'wasm trap: unreachable' });
    await waitFor(() => d.logger.lines.some((l) => l.msg === 'result of an unknown wire id dropped'), 'the unknown wire id logged', 15_000);
  }, 30_000);

  it('sends a stop shaped for the dialect when a running task is stopped through the API', async () => {
    await d.proplet('esp32-2', { channelId: 'ch-esp32-2', layout: 'direct', perPropletTopics: false, dialect: 'wamr' });
    const dev = await device();
    const starts = await listen(dev, `m/${d.domainId}/c/ch-esp32-2/control/manager/#`);
    const id = await createTask({ name: 'loop', file: MAIN_WASM, inputs: [1, 1], proplet_id: 'esp32-2' });
    await starts.next((m) => m['id'] === id && m['state'] === 0, 'the start');
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'running', 'running');

    expect((await d.w.http('POST', `/tasks/${id}/stop`, {})).status).toBeLessThan(300);
    const stop = await starts.next((m) => m['id'] === id && m['state'] === 'stopped', 'the wamr stop');
    expect(stop).toEqual({ id, proplet_id: 'esp32-2', name: 'main', state: 'stopped' });
    expect(starts.messages.find((m) => m.json === stop)?.topic).toBe(`m/${d.domainId}/c/ch-esp32-2/control/manager/stop`);
  }, 30_000);
});
