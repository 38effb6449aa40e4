import { randomUUID } from 'node:crypto';
import { Objm } from '@nats-io/obj';
import { createHash } from 'node:crypto';
import { isInvalid } from '@propeller/events';
import { getTaskEvents, listTasks, countUnfinishedTasksOnProplet } from '@propeller/read-models';
import { wireIdFor } from '@propeller/mqtt-protocol';
import { waitForSequence } from '@propeller/projections';
import { TASKS_PROJECTION } from './read-model/projection';
import { isModuleTooLarge } from './task/module';
import { ADD_WASM, openWorld, type SchedulerWorld } from './testing/world';

let w: SchedulerWorld;

beforeAll(async () => {
  w = await openWorld({ moduleMaxBytes: 1024 });
  await w.proplet.register('rpi-1');
  await w.proplet.health('rpi-1', 'healthy');
});
afterAll(async () => {
  await w?.close();
});

describe('task lifecycle over commands, into the read model', () => {
  it('creates, places, runs and completes a task, with its timeline', async () => {
    const id = randomUUID();
    await w.sendAndSettle('task.create', { taskId: id, name: 'add', file: ADD_WASM, inputs: ['1', '2'] });
    const created = await w.taskWhen(id, (t) => t.status === 'created', 'created');
    const digest = `sha256:${createHash('sha256').update(Buffer.from(ADD_WASM, 'base64')).digest('hex')}`;
    expect(created.module).toEqual({ digest, size: 41, source: 'inline' });
    // The bytes went once, by digest, into the module store; the events carry only the reference.
    const modules = await new Objm(w.nc).open(w.names.modules);
    expect(Buffer.from((await modules.getBlob(digest)) ?? []).toString('base64')).toBe(ADD_WASM);
    expect(JSON.stringify((await w.taskEvents(id))[0]?.data)).not.toContain(ADD_WASM);

    await w.send('task.start', { taskId: id });
    const scheduled = await w.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled');
    expect(scheduled).toMatchObject({ propletId: 'rpi-1', attempt: 1, wireId: id });
    expect(await countUnfinishedTasksOnProplet(w.db, 'rpi-1')).toBe(1);

    await w.send('task.recordStarted', { taskId: id, wireId: id, propletId: 'rpi-1', attempt: 1 });
    await w.taskWhen(id, (t) => t.status === 'running', 'running');
    await w.sendAndSettle('task.recordResult', { taskId: id, wireId: id, propletId: 'rpi-1', results: '3' });
    const done = await w.taskWhen(id, (t) => t.status === 'completed', 'completed');
    expect(done).toMatchObject({ results: '3', finishedAt: expect.any(String) });

    const timeline = await getTaskEvents(w.db, id);
    expect(timeline.map((e) => e.type)).toEqual(['TaskCreated', 'TaskStarted', 'TaskScheduled', 'TaskRunning', 'TaskCompleted']);
    expect(timeline[2]?.summary).toBe('scheduled on rpi-1 (attempt 1)');
    const page = await listTasks(w.db, { status: 'completed', propletId: 'rpi-1' });
    expect(page).toMatchObject({ offset: 0, limit: 100, total: 1 });
    expect(page.tasks[0]?.id).toBe(id);
    expect(await countUnfinishedTasksOnProplet(w.db, 'rpi-1')).toBe(0);
  });

  it('refuses invalid input with the field, the value and the rule, and a module over the limit as too large', async () => {
    const e1 = await w.send('task.create', { taskId: randomUUID(), name: 'add', file: 'AAAA' }).catch((e: unknown) => e);
    expect(isInvalid(e1)).toBe(true);
    expect((e1 as Error).message).toMatch(/data\.file: must start with the Wasm magic/);
    const big = Buffer.concat([Buffer.from(ADD_WASM, 'base64'), Buffer.alloc(2000)]).toString('base64');
    const e2 = await w.send('task.create', { taskId: randomUUID(), name: 'add', file: big }).catch((e: unknown) => e);
    expect(isModuleTooLarge(e2)).toBe(true);
    const e3 = await w.send('task.create', { taskId: randomUUID(), name: 'add', imageUrl: 'x', maxAttempts: 0 }).catch((e: unknown) => e);
    expect(isInvalid(e3)).toBe(true);
    expect((e3 as { issues: unknown[] }).issues).toEqual([expect.objectContaining({ field: 'data.maxAttempts', value: 0 })]);
  });

  it('discards a result of a stale attempt and changes nothing', async () => {
    const id = randomUUID();
    await w.proplet.register('rpi-2');
    await w.proplet.health('rpi-2', 'healthy');
    await w.send('task.create', { taskId: id, name: 'add', imageUrl: 'registry.example/add:1' });
    await w.send('task.start', { taskId: id });
    const first = await w.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled');
    await w.send('task.evacuate', { taskId: id, fromPropletId: first.propletId as string, reason: 'operator drained it' });
    const second = await w.taskWhen(id, (t) => t.status === 'scheduled' && t.attempt === 2, 'attempt 2 scheduled');
    expect(second.wireId).toBe(wireIdFor(id, 2));

    // The late result of attempt 1 is recorded and changes nothing.
    await w.sendAndSettle('task.recordResult', { taskId: id, wireId: id, propletId: first.propletId as string, results: 'late' });
    const after = await w.taskWhen(id, (t) => t.seq > second.seq, 'the discard applied');
    expect(after).toMatchObject({ status: 'scheduled', attempt: 2, propletId: second.propletId, results: null });
    const types = (await w.taskEvents(id)).map((e) => e.type);
    expect(types.slice(-1)).toEqual(['TaskResultDiscarded']);
    expect((await w.taskEvents(id)).slice(-1)[0]?.data).toMatchObject({ reason: 'staleAttempt', attempt: 1 });

    await w.send('task.recordResult', { taskId: id, wireId: wireIdFor(id, 2), results: '3' });
    await w.taskWhen(id, (t) => t.status === 'completed' && t.results === '3', 'completed by attempt 2');
  });

  it('fails a task whose proplet reports an error, and stops and deletes tasks', async () => {
    const id = randomUUID();
    await w.send('task.create', { taskId: id, name: 'add', imageUrl: 'x' });
    await w.send('task.start', { taskId: id });
    await w.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled');
    await w.send('task.recordResult', { taskId: id, wireId: id, error: 'trap: unreachable' });
    await w.taskWhen(id, (t) => t.status === 'failed' && t.error === 'trap: unreachable', 'failed with the error');

    const stopped = randomUUID();
    await w.send('task.create', { taskId: stopped, name: 'add', imageUrl: 'x' });
    await w.send('task.start', { taskId: stopped });
    await w.send('task.stop', { taskId: stopped, reason: 'operator' });
    await w.taskWhen(stopped, (t) => t.status === 'stopped', 'stopped');
    await w.sendAndSettle('task.delete', { taskId: stopped });
    await expect(getTaskEvents(w.db, stopped)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('rebuilds the tasks read model and its timeline to exactly the live tables', async () => {
    const last = await w.sendAndSettle('task.create', { taskId: randomUUID(), name: 'add', imageUrl: 'x', labels: { rebuilt: 'yes' } });
    const rows = async () => ({
      tasks: await w.db.selectFrom('tasks').selectAll().orderBy('id').execute(),
      events: await w.db.selectFrom('task_events').selectAll().orderBy('seq').execute(),
    });
    const live = await rows();
    expect(live.tasks.length).toBeGreaterThan(3);
    await w.scheduler.runner.rebuild(TASKS_PROJECTION);
    expect(await waitForSequence(w.db, TASKS_PROJECTION, last.lastSequence, 10_000)).toBe(true);
    expect(await rows()).toEqual(live);
  });
});
