import { sql, type Kysely } from 'kysely';
import { migrate } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import {
  appendTaskEvent,
  appendTaskEvents,
  deleteAllTasks,
  deleteTasks,
  getTaskEvents,
  loadTaskStates,
  tasksMigrations,
  upsertTask,
  upsertTasks,
  writeTasksAndEvents,
  type TaskRowInput,
  type TasksTables,
} from '.';

// The batched writes the `tasks` projection uses must store exactly what the single-row writes store.

function row(id: string, over: Partial<TaskRowInput> = {}): TaskRowInput {
  return {
    id,
    name: 'add',
    function_name: 'add',
    module: JSON.stringify({ digest: `sha256:${'ab'.repeat(32)}`, size: 41, source: 'inline' }),
    image_url: null,
    inputs: JSON.stringify(['1', 2, 'quote " and \\ backslash']),
    cli_args: JSON.stringify(['--x']),
    env: JSON.stringify({ A: 'b' }),
    daemon: false,
    proplet_selector: JSON.stringify({ matchLabels: { zone: 'north' } }),
    preferred_proplet_type: 'external',
    resource_requirements: JSON.stringify({ cpu: '1' }),
    max_attempts: 3,
    timeout_ms: 600_000,
    labels: JSON.stringify({ team: 'a' }),
    owner: JSON.stringify({ namespace: 'ns', name: 'cr', uid: 'u' }),
    status: 'running',
    attempt: 2,
    proplet_id: 'rpi-1',
    wire_id: 'w2',
    results: null,
    error: null,
    failure_reason: null,
    unschedulable_reasons: JSON.stringify(['none fits']),
    explanation: 'least loaded',
    created_at: '2026-11-27T13:00:00.000Z',
    updated_at: '2026-11-27T13:00:05.123Z',
    started_at: '2026-11-27T13:00:01.000Z',
    scheduled_at: '2026-11-27T13:00:02.000Z',
    running_at: '2026-11-27T13:00:03.000Z',
    finished_at: null,
    state: JSON.stringify({ status: 'running', spec: { name: 'add' }, nested: [1, { a: null }] }),
    last_seq: 42,
    ...over,
  };
}

describe('tasks read model batched writes', () => {
  const t = testDb<TasksTables>({ poolMax: 1 });
  const db: Kysely<TasksTables> = t.db;
  const all = async () => (await sql`select * from tasks order by id`.execute(db)).rows;

  beforeAll(async () => {
    await migrate(db, { migrations: tasksMigrations });
  });
  afterAll(() => t.drop());
  beforeEach(() => deleteAllTasks(db));

  const rows = [
    row('a'),
    row('b', { status: 'completed', results: JSON.stringify({ out: [1, 2] }), finished_at: '2026-11-27T13:01:00.000Z', owner: null, module: null }),
    row('c', { status: 'failed', error: 'boom', failure_reason: 'error', timeout_ms: null, daemon: true, image_url: 'r.example/x:1' }),
  ];

  it('stores the same rows as one upsertTask per row, on insert and on update', async () => {
    for (const r of rows) await upsertTask(db, r);
    const single = await all();
    const changed = rows.map((r) => ({ ...r, status: 'stopped' as const, last_seq: 99, updated_at: '2026-11-27T14:00:00.000Z' }));
    for (const r of changed) await upsertTask(db, r);
    const singleUpdated = await all();

    await deleteAllTasks(db);
    await upsertTasks(db, rows);
    expect(await all()).toEqual(single);
    await upsertTasks(db, changed);
    expect(await all()).toEqual(singleUpdated);
    expect(singleUpdated).not.toEqual(single);
  });

  it('keeps the stored explanation when a row brings none, and replaces it when it brings one', async () => {
    await upsertTasks(db, [row('a', { explanation: 'first' }), row('b', { explanation: 'first' })]);
    await upsertTasks(db, [row('a', { explanation: null, status: 'pending' }), row('b', { explanation: 'second' })]);
    const got = await db.selectFrom('tasks').select(['id', 'explanation', 'status']).orderBy('id').execute();
    expect(got).toEqual([
      { id: 'a', explanation: 'first', status: 'pending' },
      { id: 'b', explanation: 'second', status: 'running' },
    ]);
  });

  it('appends timeline rows once per sequence, and deletes rows with their timelines', async () => {
    await upsertTasks(db, [row('a'), row('b')]);
    await appendTaskEvent(db, { seq: 1, task_id: 'a', type: 'TaskCreated', at: '2026-11-27T13:00:00.000Z', summary: 'created add' });
    await appendTaskEvents(db, [
      { seq: 1, task_id: 'a', type: 'TaskCreated', at: '2026-11-27T13:00:00.000Z', summary: 'applied twice' },
      { seq: 2, task_id: 'b', type: 'TaskCreated', at: '2026-11-27T13:00:00.500Z', summary: 'created "b"' },
      { seq: 3, task_id: 'a', type: 'TaskStarted', at: '2026-11-27T13:00:01.000Z', summary: 'start requested' },
      { seq: 3, task_id: 'a', type: 'TaskStarted', at: '2026-11-27T13:00:01.000Z', summary: 'twice in one batch' },
    ]);
    expect(await getTaskEvents(db, 'a')).toEqual([
      { seq: 1, type: 'TaskCreated', at: '2026-11-27T13:00:00.000Z', summary: 'created add' },
      { seq: 3, type: 'TaskStarted', at: '2026-11-27T13:00:01.000Z', summary: 'start requested' },
    ]);
    expect((await getTaskEvents(db, 'b'))[0]?.summary).toBe('created "b"');

    await deleteTasks(db, ['a', 'missing']);
    expect((await all()).map((r) => (r as { id: string }).id)).toEqual(['b']);
    expect((await sql<{ task_id: string }>`select task_id from task_events`.execute(db)).rows).toEqual([{ task_id: 'b' }]);
  });

  it('writes rows and timeline in one statement exactly as the two writes do', async () => {
    const events = [
      { seq: 5, task_id: 'a', type: 'TaskCreated', at: '2026-11-27T13:00:00.000Z', summary: 'created add' },
      { seq: 6, task_id: 'b', type: 'TaskStarted', at: '2026-11-27T13:00:01.000Z', summary: 'start requested' },
    ];
    await upsertTasks(db, [row('a', { explanation: 'kept' })]);
    await upsertTasks(db, [row('a', { explanation: null }), row('b')]);
    await appendTaskEvents(db, events);
    const separate = { tasks: await all(), timeline: (await sql`select * from task_events order by seq`.execute(db)).rows };

    await deleteAllTasks(db);
    await writeTasksAndEvents(db, [row('a', { explanation: 'kept' })], []);
    await writeTasksAndEvents(db, [row('a', { explanation: null }), row('b')], events);
    expect({ tasks: await all(), timeline: (await sql`select * from task_events order by seq`.execute(db)).rows }).toEqual(separate);
    expect(separate.timeline).toHaveLength(2);
    expect(separate.tasks[0]).toMatchObject({ id: 'a', explanation: 'kept' });
  });

  it('loads the folded states of the ids that have a row, in one map', async () => {
    await upsertTasks(db, [row('a'), row('b', { last_seq: 7, state: JSON.stringify({ status: 'created' }) })]);
    const states = await loadTaskStates(db, ['b', 'a', 'nope']);
    expect([...states.keys()].sort()).toEqual(['a', 'b']);
    expect(states.get('b')).toEqual({ state: { status: 'created' }, lastSeq: 7 });
    expect(await loadTaskStates(db, [])).toEqual(new Map());
  });
});
