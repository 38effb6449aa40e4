import { randomUUID } from 'node:crypto';
import { waitFor } from '@propeller/eventstore/testing';
import { getTask } from '@propeller/read-models';
import { openWorld, type SchedulerWorld } from './testing/world';

let w: SchedulerWorld;

beforeAll(async () => {
  w = await openWorld({ retentionMs: 300 });
  await w.proplet.register('rpi-1');
  await w.proplet.health('rpi-1', 'healthy');
});
afterAll(async () => {
  await w?.close();
});

describe('retention (TASK_RETENTION)', () => {
  it('archives a finished task, drops its rows and purges its subject, and leaves an unfinished one alone', async () => {
    const done = randomUUID();
    const busy = randomUUID();
    for (const id of [done, busy]) {
      await w.send('task.create', { taskId: id, name: 'add', imageUrl: 'x' });
      await w.send('task.start', { taskId: id });
      await w.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled');
    }
    await w.send('task.recordResult', { taskId: done, wireId: done, results: '3' });
    await w.taskWhen(done, (t) => t.status === 'completed', 'completed');

    await waitFor(async () => (await getTask(w.db, done)) === undefined, 'the archived task to leave the read model');
    await waitFor(async () => (await w.taskEvents(done)).length === 0, 'the archived task subject to be purged');
    // Well past the retention: the running task is untouched.
    const busyRow = await getTask(w.db, busy);
    expect(busyRow).toMatchObject({ status: 'scheduled' });
    expect((await w.taskEvents(busy)).map((e) => e.type)).not.toContain('TaskArchived');
  });
});
