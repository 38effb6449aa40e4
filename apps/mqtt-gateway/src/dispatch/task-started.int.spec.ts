import type { MqttClient } from 'mqtt';
import { jetstreamManager } from '@nats-io/jetstream';
import { waitFor } from '@propeller/eventstore/testing';
import { ADD_WASM, listen, mqttClient, openDispatchWorld, type DispatchWorld } from './testing';

// A proplet of ours (per-proplet topics) says task_started, then its result. When the result is already in
// the inbox by the time dispatch reads the task_started, the task_started is not relayed: the scheduler
// completes the scheduled task from its result, with no TaskRunning in between. Reported one after the
// other, both are relayed: TaskRunning, then TaskCompleted. Real NATS, Postgres, Mosquitto; devices are raw
// MQTT clients speaking JSON literals.

type Json = Record<string, unknown>;

const GRACE_MS = 1_500;

const statusOf = async (d: DispatchWorld, id: string): Promise<unknown> => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'];
const timelineOf = async (d: DispatchWorld, id: string): Promise<string[]> =>
  ((await d.w.http('GET', `/tasks/${id}/events?limit=100`)).body as { events: Array<{ type: string }> }).events.map((e) => e.type);

/** A task scheduled on `propletId` whose start the device received (the task stays `scheduled`: no dispatch evidence for our proplets). */
async function scheduledTaskOn(d: DispatchWorld, dev: MqttClient, propletId: string, inputs: [number, number]): Promise<string> {
  const own = await listen(dev, `m/${d.domainId}/c/control/messages/control/manager/start/${propletId}`);
  const res = await d.w.http('POST', '/tasks', { name: 'add', file: ADD_WASM, inputs, proplet_id: propletId, start: true });
  expect(res.status).toBe(201);
  const id = String((res.body as Json)['id']);
  await own.next((m) => m['id'] === id, 'the start on the per-proplet topic');
  await waitFor(async () => (await statusOf(d, id)) === 'scheduled', 'scheduled in the read model');
  return id;
}

/** Registers the hooks of a world with one proplet of ours and a device client, for the describe block it is called in. */
function withOurProplet(propletId: string, opts: Parameters<typeof openDispatchWorld>[0]) {
  const held = {} as { d: DispatchWorld; dev: MqttClient };
  beforeAll(async () => {
    held.d = await openDispatchWorld(opts);
    await held.d.proplet(propletId, { channelId: 'control', layout: 'messages', perPropletTopics: true, dialect: 'wasmtime' });
    held.dev = await mqttClient({ protocolVersion: 5 });
  }, 30_000);
  afterAll(async () => {
    await held.dev?.endAsync().catch(() => undefined);
    await held.d?.close();
  });
  const base = (): string => `m/${held.d.domainId}/c/control/messages/control/proplet`;
  return {
    get d(): DispatchWorld {
      return held.d;
    },
    get dev(): MqttClient {
      return held.dev;
    },
    /** The device says `task_started` for attempt 1 of `id` (a JSON literal, QoS 1). */
    sayStarted: (id: string): Promise<unknown> =>
      held.dev.publishAsync(`${base()}/task_started`, JSON.stringify({ task_id: id, proplet_id: propletId, attempt: 1 }), { qos: 1 }),
    /** The device reports the result of `id`. */
    sayResult: (id: string, results: string): Promise<unknown> =>
      held.dev.publishAsync(`${base()}/results`, JSON.stringify({ task_id: id, proplet_id: propletId, results }), { qos: 1 }),
    /** Whether the gateway logged `msg` for the wire id `id`. */
    logged: (msg: string, id: string): boolean => held.d.logger.lines.some((l) => l.msg === msg && (l.obj as { wireId?: string }).wireId === id),
    status: (id: string): Promise<unknown> => statusOf(held.d, id),
    timeline: (id: string): Promise<string[]> => timelineOf(held.d, id),
    scheduledTask: (inputs: [number, number]): Promise<string> => scheduledTaskOn(held.d, held.dev, propletId, inputs),
  };
}

describe('dispatch: a task_started whose result is already in the inbox', () => {
  // A long grace, so that "the result follows within it" is deterministic here (the default is 50 ms). The
  // gateway stores every task_started here (its own grace off): this is the dispatch side of superseding.
  const w = withOurProplet('ours-1', { startedGraceMs: GRACE_MS, gatewayStartedGraceMs: 0 });
  const { sayStarted, sayResult, logged, status, timeline, scheduledTask } = w;

  it('completes the task from its result without a TaskRunning, and does not relay the task_started', async () => {
    const id = await scheduledTask([20, 22]);
    // Dispatch reads nothing while the device reports both back to back, so both are in the inbox before either is relayed.
    await w.d.withoutDispatch(async () => {
      await sayStarted(id);
      await sayResult(id, '42');
      // The device's PUBACK is the broker's: wait until the gateway stored the result, then for the task_started read before it.
      await waitFor(() => w.d.gateway.resultsInInbox.has(id), 'the result stored in the inbox');
      await w.d.gateway.idle();
    });

    await waitFor(async () => (await status(id)) === 'completed', 'completed from the result');
    expect((await w.d.w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ status: 'completed', results: '42', proplet_id: 'ours-1', attempt: 1 });
    await waitFor(
      () => logged('task_started not relayed: its result is already in the inbox', id),
      'the task_started counted as superseded',
    );
    const types = await timeline(id);
    expect(types).toContain('TaskCompleted');
    expect(types).not.toContain('TaskRunning');
  }, 30_000);

  it('waits a moment for the result of a task_started before relaying it: a result that follows within it supersedes it', async () => {
    const id = await scheduledTask([5, 6]);
    await sayStarted(id);
    await new Promise((r) => setTimeout(r, 200));
    await sayResult(id, '11');
    await waitFor(async () => (await status(id)) === 'completed', 'completed from the result');
    await waitFor(
      () => logged('task_started not relayed: its result is already in the inbox', id),
      'the task_started counted as superseded',
    );
    expect(await timeline(id)).not.toContain('TaskRunning');
  }, 30_000);

  it('still relays a task_started sent before its result: TaskRunning, then TaskCompleted', async () => {
    const id = await scheduledTask([1, 2]);
    await sayStarted(id);
    await waitFor(async () => (await status(id)) === 'running', 'running after task_started (and the grace)', 10_000);
    await sayResult(id, '3');
    await waitFor(async () => (await status(id)) === 'completed', 'completed from the result');

    const types = await timeline(id);
    expect(types.filter((t) => t === 'TaskRunning' || t === 'TaskCompleted')).toEqual(['TaskRunning', 'TaskCompleted']);
    expect((await w.d.w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ status: 'completed', results: '3' });
  }, 30_000);
});

// The gateway side: a task_started whose result is read on the session within GATEWAY_STARTED_GRACE is never
// stored in the inbox (acknowledged once the result is stored); one alone is stored after the grace and relayed.
describe('gateway: a task_started read with its result is not stored', () => {
  const w = withOurProplet('ours-2', { gatewayStartedGraceMs: 300 });
  const { sayStarted, sayResult, logged, status, timeline, scheduledTask } = w;
  /** The inbox messages stored for one kind and wire id. */
  async function stored(kind: 'task_started' | 'results', id: string): Promise<number> {
    const jsm = await jetstreamManager(w.d.w.nc);
    const info = await jsm.streams.info(w.d.w.names.inboxStream, { subjects_filter: w.d.w.names.inboxSubject(kind, id) });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  }

  it('stores only the result of a task_started and result sent back to back; the task completes without TaskRunning', async () => {
    const id = await scheduledTask([30, 12]);
    await sayStarted(id);
    await sayResult(id, '42');
    await waitFor(async () => (await status(id)) === 'completed', 'completed from the result');
    await w.d.gateway.idle();
    expect(await stored('results', id)).toBe(1);
    expect(await stored('task_started', id)).toBe(0);
    expect(logged('task_started not stored: its result was read with it', id)).toBe(true);
    expect(await timeline(id)).not.toContain('TaskRunning');
  }, 30_000);

  it('stores a task_started whose result does not come within the grace, and the task runs', async () => {
    const id = await scheduledTask([2, 2]);
    await sayStarted(id);
    await waitFor(async () => (await status(id)) === 'running', 'running after task_started', 10_000);
    expect(await stored('task_started', id)).toBe(1);
    await sayResult(id, '4');
    await waitFor(async () => (await status(id)) === 'completed', 'completed from the result');
    expect((await timeline(id)).filter((t) => t === 'TaskRunning' || t === 'TaskCompleted')).toEqual(['TaskRunning', 'TaskCompleted']);
  }, 30_000);
});
