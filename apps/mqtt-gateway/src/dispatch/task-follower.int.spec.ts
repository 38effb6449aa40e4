import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsNames } from '@propeller/events';
import { EventStore, provision } from '@propeller/eventstore';
import { cleanup, connectTest, testEnvelope, testNames } from '@propeller/eventstore/testing';
import { AttemptIndex } from './attempt-index';
import { followTaskEvents, type TaskFollower } from './task-follower';
import { TaskViews } from './task-view';

// The follower feeds the attempt index and the task views a start is shaped from, on the real NATS.

let nc: NatsConnection;
let names: NatsNames;
let store: EventStore;
let follower: TaskFollower | undefined;

beforeAll(async () => {
  names = testNames();
  nc = await connectTest('gateway-task-follower');
  await provision(nc, names);
  store = await EventStore.connect(nc, names);
});

afterAll(async () => {
  await follower?.stop();
  await cleanup(nc, names);
  await nc.close();
});

const LIVE = '0b8f6a9e-1c1d-4d4e-9f5a-000000000001';
const DONE = '0b8f6a9e-1c1d-4d4e-9f5a-000000000002';

async function append(id: string, events: Array<{ type: string; data: unknown; traceparent?: string }>): Promise<number> {
  const { lastSequence } = await store.load('task', id);
  const r = await store.append('task', id, events.map((e) => testEnvelope('task', id, { type: e.type, data: e.data, traceparent: e.traceparent ?? null })), lastSequence);
  return r.lastSequence;
}

describe('task follower (attempt index and task views)', () => {
  it('holds the view of a live task once it passed its events, lets a completed one go, and says when it has not got that far', async () => {
    await append(LIVE, [
      { type: 'TaskCreated', data: { name: 'add', inputs: [1, 2], module: { digest: 'sha256:aa', size: 1, source: 'inline' } }, traceparent: 'trace-create' },
      { type: 'TaskStarted', data: {}, traceparent: 'trace-start' },
      { type: 'TaskScheduled', data: { attempt: 1, wireId: LIVE, propletId: 'p1' } },
    ]);
    const last = await append(DONE, [
      { type: 'TaskCreated', data: { name: 'add', inputs: [] } },
      { type: 'TaskScheduled', data: { attempt: 1, wireId: DONE, propletId: 'p1' } },
      { type: 'TaskCompleted', data: { results: 3 } },
    ]);
    const index = new AttemptIndex();
    const views = new TaskViews();
    const errors: unknown[] = [];
    follower = followTaskEvents(nc, names, index, (e) => errors.push(e), views);
    expect(await follower.reached(last, 10_000)).toBe(true);
    expect(views.get(LIVE)).toMatchObject({ view: { functionName: 'add', inputs: [1, 2], current: { attempt: 1, wireId: LIVE, propletId: 'p1' } }, traceparent: 'trace-start' });
    expect(views.get(DONE)).toBeUndefined();
    expect(index.lookup(DONE)).toMatchObject({ taskId: DONE, propletId: 'p1' });
    expect(await follower.reached(last + 1_000, 200)).toBe(false);

    const next = append(LIVE, [{ type: 'TaskEvacuated', data: { attempt: 1, wireId: LIVE, fromPropletId: 'p1' } }]);
    const passed = follower.reached(last + 1, 10_000);
    await next;
    expect(await passed).toBe(true);
    expect(views.get(LIVE)?.view.currentLeft).toBe(true);
    expect(errors).toEqual([]);
  });
});
