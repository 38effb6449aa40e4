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

  it('keeps only an id and a due time of a finished task, and a late result of it does not cancel its archive', async () => {
    const late = await openWorld({ retentionMs: 1_500 });
    try {
      await late.proplet.register('rpi-2');
      await late.loopAt(await late.proplet.health('rpi-2', 'healthy'));
      const id = randomUUID();
      await late.send('task.create', { taskId: id, name: 'add', imageUrl: 'x', start: true });
      await late.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled');
      const done = await late.send('task.recordResult', { taskId: id, wireId: id, results: '3' });
      // A late error report of the same attempt after the task completed: recorded, changes nothing.
      const discarded = await late.send('task.recordResult', { taskId: id, wireId: id, error: 'late' });
      expect(discarded.sequences).toHaveLength(1);
      await late.loopAt(discarded.lastSequence);
      expect(done.lastSequence).toBeLessThan(discarded.lastSequence);
      expect(late.scheduler.loop.stats()).toMatchObject({ live: 0, awaitingArchive: 1 });

      await waitFor(async () => (await late.taskEvents(id)).length === 0, 'the archived task subject to be purged', 10_000);
      expect(late.scheduler.loop.stats()).toMatchObject({ live: 0, awaitingArchive: 0 });
    } finally {
      await late.close();
    }
  });
});
