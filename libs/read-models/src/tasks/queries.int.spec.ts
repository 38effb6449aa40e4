import type { Kysely } from 'kysely';
import { migrate } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import {
  appendTaskEvent,
  countUnfinishedTasksOnProplet,
  deleteTask,
  getTaskEvents,
  getTaskOrThrow,
  getTasks,
  listTasks,
  tasksMigrations,
  upsertTask,
  type TaskRowInput,
  type TasksTables,
} from '.';

/** A row with sensible defaults; every column can be overridden. */
function row(id: string, over: Partial<TaskRowInput> = {}): TaskRowInput {
  return {
    id,
    name: 'add',
    function_name: 'add',
    module: null,
    image_url: 'registry.example/add:1',
    inputs: JSON.stringify(['1', 2]),
    cli_args: JSON.stringify([]),
    env: JSON.stringify({}),
    daemon: false,
    proplet_selector: JSON.stringify({}),
    preferred_proplet_type: 'any',
    resource_requirements: JSON.stringify({}),
    max_attempts: 3,
    timeout_ms: 600_000,
    labels: JSON.stringify({}),
    owner: null,
    status: 'created',
    attempt: 1,
    proplet_id: null,
    wire_id: null,
    results: null,
    error: null,
    failure_reason: null,
    unschedulable_reasons: null,
    explanation: null,
    created_at: '2026-11-27T13:00:00.000Z',
    updated_at: '2026-11-27T13:00:00.000Z',
    started_at: null,
    scheduled_at: null,
    running_at: null,
    finished_at: null,
    state: JSON.stringify({ status: 'created' }),
    last_seq: 1,
    ...over,
  };
}

describe('tasks read model queries', () => {
  const t = testDb<TasksTables>({ poolMax: 1 });
  const db: Kysely<TasksTables> = t.db;

  beforeAll(async () => {
    await migrate(db, { migrations: tasksMigrations });
    await upsertTask(db, row('t1', { created_at: '2026-11-27T13:00:01.000Z' }));
    await upsertTask(db, row('t2', { created_at: '2026-11-27T13:00:02.000Z', status: 'running', proplet_id: 'rpi-1', wire_id: 't2' }));
    await upsertTask(db, row('t3', { created_at: '2026-11-27T13:00:03.000Z', status: 'scheduled', proplet_id: 'rpi-1', wire_id: 't3' }));
    await upsertTask(db, row('t4', { created_at: '2026-11-27T13:00:04.000Z', status: 'completed', proplet_id: 'rpi-1', results: JSON.stringify('42') }));
    await upsertTask(db, row('t5', { created_at: '2026-11-27T13:00:05.000Z', status: 'running', proplet_id: 'rpi-2', results: JSON.stringify({ a: [1] }) }));
    await appendTaskEvent(db, { seq: 10, task_id: 't4', type: 'TaskCreated', at: '2026-11-27T13:00:04.000Z', summary: 'created add' });
    await appendTaskEvent(db, { seq: 12, task_id: 't4', type: 'TaskCompleted', at: '2026-11-27T13:00:06.000Z', summary: 'completed (attempt 1)' });
    await appendTaskEvent(db, { seq: 12, task_id: 't4', type: 'TaskCompleted', at: '2026-11-27T13:00:06.000Z', summary: 'applied twice' });
  });

  afterAll(async () => {
    await t.drop();
  });

  it('pages oldest first with the total of every match', async () => {
    const page = await listTasks(db, { offset: 1, limit: 2 });
    expect(page).toMatchObject({ offset: 1, limit: 2, total: 5 });
    expect(page.tasks.map((x) => x.id)).toEqual(['t2', 't3']);
  });

  it('filters by one or several statuses and by proplet', async () => {
    expect((await listTasks(db, { status: 'running' })).tasks.map((x) => x.id)).toEqual(['t2', 't5']);
    expect((await listTasks(db, { status: ['running', 'scheduled'], propletId: 'rpi-1' })).tasks.map((x) => x.id)).toEqual(['t2', 't3']);
    expect(await listTasks(db, { status: [] })).toMatchObject({ total: 0, tasks: [] });
  });

  it('refuses a bad page or filter, naming the field', async () => {
    await expect(listTasks(db, { limit: 0 })).rejects.toMatchObject({ code: 'Invalid', issues: [{ field: 'limit', value: 0 }] });
    await expect(listTasks(db, { offset: -1 })).rejects.toMatchObject({ code: 'Invalid', issues: [{ field: 'offset' }] });
    await expect(listTasks(db, { status: 'done' as never })).rejects.toMatchObject({ code: 'Invalid', issues: [{ field: 'status', value: 'done' }] });
  });

  it('reads a task in domain casing, with results stored unchanged', async () => {
    expect(await getTaskOrThrow(db, 't4')).toMatchObject({ id: 't4', status: 'completed', results: '42', inputs: ['1', 2], timeoutMs: 600000, seq: 1 });
    expect((await getTaskOrThrow(db, 't5')).results).toEqual({ a: [1] });
    await expect(getTaskOrThrow(db, 'nope')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('reads several tasks in one query, in the order asked, with a hole for a missing one', async () => {
    const got = await getTasks(db, ['t5', 'nope', 't1', 't5']);
    expect(got.map((x) => x?.id)).toEqual(['t5', undefined, 't1', 't5']);
    expect(got[0]).toEqual(await getTaskOrThrow(db, 't5'));
    expect(await getTasks(db, [])).toEqual([]);
  });

  it('returns the timeline oldest first, one row per event sequence', async () => {
    expect(await getTaskEvents(db, 't4')).toEqual([
      { seq: 10, type: 'TaskCreated', at: '2026-11-27T13:00:04.000Z', summary: 'created add' },
      { seq: 12, type: 'TaskCompleted', at: '2026-11-27T13:00:06.000Z', summary: 'completed (attempt 1)' },
    ]);
    expect(await getTaskEvents(db, 't1')).toEqual([]);
    await expect(getTaskEvents(db, 'nope')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('counts the unfinished tasks on a proplet, and forgets a deleted task with its timeline', async () => {
    expect(await countUnfinishedTasksOnProplet(db, 'rpi-1')).toBe(2);
    await deleteTask(db, 't4');
    await expect(getTaskEvents(db, 't4')).rejects.toMatchObject({ code: 'NotFound' });
    expect((await listTasks(db)).total).toBe(4);
  });
});
