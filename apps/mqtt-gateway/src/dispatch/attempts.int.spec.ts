import type { MqttClient } from 'mqtt';
import { waitFor } from '@propeller/eventstore/testing';
import { wireIdFor } from '@propeller/mqtt-protocol';
import { ADD_WASM, listen, mqttClient, openDispatchWorld, type DispatchWorld, type Inbox } from './testing';

// Attempts across proplets with the scheduler's own timers (short `timeout`): a silent proplet leads to
// attempt 2 elsewhere; the late result of the abandoned attempt changes nothing; the silent proplet is told
// to stop that attempt when it beats again; with max_attempts 2 and both silent the task fails.
// Devices are plain MQTT clients speaking JSON literals.

type Json = Record<string, unknown>;

describe('dispatch: attempts, timeouts and abandoned attempts', () => {
  let d: DispatchWorld;
  const devices: MqttClient[] = [];
  const dev: Record<string, { client: MqttClient; inbox: Inbox }> = {};

  beforeAll(async () => {
    d = await openDispatchWorld();
    // Two upstream proplets, each on its own channel, and nothing else on this prefix: the scheduler can only pick them.
    for (const id of ['silent-a', 'silent-b']) {
      await d.proplet(id, { channelId: `ch-${id}`, layout: 'direct', perPropletTopics: false, dialect: 'wasmtime' });
      const client = await mqttClient({ protocolVersion: 5 });
      devices.push(client);
      dev[id] = { client, inbox: await listen(client, `m/${d.domainId}/c/ch-${id}/control/manager/#`) };
    }
  }, 30_000);
  afterAll(async () => {
    await Promise.all(devices.map((c) => c.endAsync().catch(() => undefined)));
    await d?.close();
  });

  const task = async (id: string): Promise<Json> => (await d.w.http('GET', `/tasks/${id}`)).body as Json;
  const startsOf = (propletId: string, wireId: string) =>
    dev[propletId]?.inbox.messages.filter((m) => m.json['id'] === wireId && m.json['state'] === 0 && m.topic.endsWith('/start')) ?? [];
  /** Where the start of `wireId` went. */
  async function startedOn(wireId: string): Promise<string> {
    let on: string | undefined;
    await waitFor(() => {
      on = ['silent-a', 'silent-b'].find((p) => startsOf(p, wireId).length > 0);
      return on !== undefined;
    }, `the start of ${wireId}`);
    return on as string;
  }
  const other = (p: string): string => (p === 'silent-a' ? 'silent-b' : 'silent-a');

  it('moves a task whose proplet stays silent to attempt 2 on the other proplet; the late result of attempt 1 changes nothing', async () => {
    const res = await d.w.http('POST', '/tasks', { name: 'add', file: ADD_WASM, inputs: [20, 22], timeout: '1500ms', max_attempts: 3, start: true });
    expect(res.status).toBe(201);
    const id = String((res.body as Json)['id']);
    const first = await startedOn(id);

    // Nobody answers attempt 1: the scheduler's timer evacuates it and places attempt 2 elsewhere.
    const wire2 = wireIdFor(id, 2);
    const second = await startedOn(wire2);
    expect(second).toBe(other(first));
    // The abandoned attempt is told to stop at once (the proplet may only be slow).
    await dev[first]?.inbox.next((m) => m['id'] === id && m['proplet_id'] === first && !('state' in m), 'the stop of attempt 1', 5_000);

    const base = (p: string) => `m/${d.domainId}/c/ch-${p}/control/proplet`;
    // The first proplet wakes up and reports attempt 1 while attempt 2 runs: recorded as discarded, nothing changes.
    await dev[first]?.client.publishAsync(`${base(first)}/results`, JSON.stringify({ task_id: id, proplet_id: first, results: '999' }), { qos: 1 });
    await waitFor(async () => {
      const tl = (await d.w.http('GET', `/tasks/${id}/events?limit=100`)).body as { events: Array<{ type: string }> };
      return tl.events.some((e) => e.type === 'TaskResultDiscarded');
    }, 'the late result recorded as discarded');
    const during = await task(id);
    expect(['scheduled', 'running']).toContain(during['status']);
    expect(during['attempt']).toBe(2);
    expect(during['proplet_id']).toBe(second);

    await dev[second]?.client.publishAsync(`${base(second)}/results`, JSON.stringify({ task_id: wire2, proplet_id: second, results: '42' }), { qos: 1 });
    await waitFor(async () => (await task(id))['status'] === 'completed', 'completed by attempt 2');
    expect((await d.w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ status: 'completed', results: '42', attempt: 2, proplet_id: second });
  }, 30_000);

  it('fails a task with max_attempts 2 whose two proplets stay silent with "timeout after 2 attempts", and stops the abandoned attempt when its proplet beats again', async () => {
    const res = await d.w.http('POST', '/tasks', { name: 'add', file: ADD_WASM, inputs: [1, 1], timeout: '1200ms', max_attempts: 2, start: true });
    const id = String((res.body as Json)['id']);
    const first = await startedOn(id);
    const second = await startedOn(wireIdFor(id, 2));
    expect(second).toBe(other(first));
    await waitFor(async () => (await task(id))['status'] === 'failed', 'failed after two silent attempts', 15_000);
    const results = (await d.w.http('GET', `/tasks/${id}/results`)).body as Json;
    expect(results).toMatchObject({ status: 'failed', attempt: 2 });
    expect(String(results['error'])).toContain('timeout after 2 attempts');

    // The first proplet held the abandoned attempt 1; when it is heard from again (a heartbeat), it is told to stop it.
    const inbox = dev[first]?.inbox as Inbox;
    const stopsBefore = inbox.messages.filter((m) => m.json['id'] === id && m.topic.endsWith('/stop')).length;
    await dev[first]?.client.publishAsync(`m/${d.domainId}/c/ch-${first}/control/proplet/alive`, JSON.stringify({ proplet_id: first, status: 'alive' }), { qos: 0 });
    await waitFor(() => inbox.messages.filter((m) => m.json['id'] === id && m.topic.endsWith('/stop')).length > stopsBefore, 'a stop after the heartbeat', 10_000);
  }, 30_000);
});
