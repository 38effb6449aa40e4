import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { makeEnvelope, type StoredEnvelope, type TaskEvent } from '@propeller/events';
import { migrate } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import { tasksMigrations, type TasksTables } from '@propeller/read-models';
import { TaskHistory } from '../testing/given';
import { applyTaskEvent, applyTaskEvents, tasksProjection } from './projection';

// The batch path (`applyTaskEvents`, what the runner uses) must write exactly what `applyTaskEvent` one event at a
// time writes, whatever the cut of the batches: same rows, same timeline, same kept explanations and deletions.

const at = (minute: number): string => new Date(Date.UTC(2026, 10, 27, 13, minute)).toISOString();

/** Histories of several tasks covering every way a row changes: placed twice, updated, failed, stopped, deleted, archived. */
function histories(): Array<{ id: string; events: TaskEvent[] }> {
  const h = (): { id: string; t: TaskHistory } => {
    const id = randomUUID();
    return { id, t: new TaskHistory(id) };
  };
  const out: Array<{ id: string; events: TaskEvent[] }> = [];

  const happy = h();
  happy.t.created().started().scheduled('rpi-1', 1, 'w1').running('rpi-1', 1, 'w1');
  happy.t.push({ type: 'TaskCompleted', data: { results: { sum: 3 }, attempt: 1, wireId: 'w1', propletId: 'rpi-1', completedAt: at(5) } });
  out.push({ id: happy.id, events: happy.t.events });

  // Evacuated after placement: pending again (the explanation of the first placement stays), then placed elsewhere.
  const moved = h();
  moved.t.created().started().scheduled('rpi-1', 1, 'w1').evacuated('rpi-1', 1, 'w1');
  moved.t.push({ type: 'TaskUnschedulable', data: { reasons: ['no proplet has capability gpu'], attempt: 2, unschedulableAt: at(3) } });
  moved.t.push({ type: 'TaskScheduled', data: { propletId: 'rpi-2', attempt: 2, wireId: 'w2', explanation: 'second placement', scheduledAt: at(4) } });
  moved.t.push({ type: 'TaskResultDiscarded', data: { wireId: 'w1', attempt: 1, reason: 'staleAttempt', propletId: 'rpi-1', discardedAt: at(5) } });
  moved.t.running('rpi-2', 2, 'w2');
  out.push({ id: moved.id, events: moved.t.events });

  const updated = h();
  updated.t.created().push({ type: 'TaskUpdated', data: { inputs: [7, 8], labels: { team: 'a' }, updatedAt: at(1) } }).started();
  updated.t.push({ type: 'TaskFailed', data: { error: 'no module', reason: 'moduleUnavailable', attempt: 1, failedAt: at(2) } });
  out.push({ id: updated.id, events: updated.t.events });

  const stopped = h();
  stopped.t.created().started().scheduled('rpi-3', 1, 'w1');
  stopped.t.push({ type: 'TaskStopped', data: { reason: 'operator', propletId: 'rpi-3', attempt: 1, wireId: 'w1', stoppedAt: at(3) } });
  out.push({ id: stopped.id, events: stopped.t.events });

  // Deleted while running: the row and its timeline leave; later events of the id change nothing.
  const deleted = h();
  deleted.t.created().started().scheduled('rpi-1', 1, 'w1').running('rpi-1', 1, 'w1');
  deleted.t.push({ type: 'TaskDeleted', data: { status: 'running', propletId: 'rpi-1', wireId: 'w1', deletedAt: at(6) } });
  deleted.t.push({ type: 'TaskResultDiscarded', data: { wireId: 'w1', attempt: 1, reason: 'afterTerminal', discardedAt: at(7) } });
  out.push({ id: deleted.id, events: deleted.t.events });

  const archived = h();
  archived.t.created().started().scheduled('rpi-2', 1, 'w1');
  archived.t.push({ type: 'TaskCompleted', data: { results: '42', attempt: 1, wireId: 'w1', completedAt: at(8) } });
  archived.t.push({ type: 'TaskArchived', data: { status: 'completed', archivedAt: at(9) } });
  out.push({ id: archived.id, events: archived.t.events });

  // Events of a task that never had a row (its creation is not in this log): no row, no timeline.
  const orphan = h();
  orphan.t.started();
  out.push({ id: orphan.id, events: orphan.t.events });

  // Created with a pin and never started.
  const idle = h();
  idle.t.created({ propletSelector: { propletId: 'rpi-9' }, daemon: true, timeoutMs: null, owner: { namespace: 'ns', name: 'cr', uid: 'u1' } });
  out.push({ id: idle.id, events: idle.t.events });
  return out;
}

/** The histories interleaved round-robin into one stream, with sequences from `from`. */
function stream(from = 100): StoredEnvelope[] {
  const hs = histories();
  const out: StoredEnvelope[] = [];
  for (let i = 0; hs.some((x) => i < x.events.length); i++) {
    for (const x of hs) {
      const event = x.events[i];
      if (event === undefined) continue;
      const env = makeEnvelope({ event, aggregateId: x.id, meta: { correlationId: 'c' }, id: randomUUID(), occurredAt: at(out.length) });
      out.push({ ...env, seq: from + out.length });
    }
  }
  return out;
}

describe('tasks projection, batched', () => {
  const t = testDb<TasksTables>({ poolMax: 1 });
  const db = t.db;
  const events = stream();

  beforeAll(async () => {
    await migrate(db, { migrations: tasksMigrations });
  });
  afterAll(() => t.drop());

  const snapshot = async () => ({
    tasks: (await sql`select * from tasks order by id`.execute(db)).rows,
    timeline: (await sql`select * from task_events order by seq`.execute(db)).rows,
  });

  let oneByOne: Awaited<ReturnType<typeof snapshot>>;

  it('applied one event at a time, keeps the live tasks with their timelines (the reference)', async () => {
    await db.transaction().execute((trx) => tasksProjection.reset(trx));
    for (const e of events) await db.transaction().execute((trx) => applyTaskEvent(trx, e));
    oneByOne = await snapshot();
    // Sanity of the reference itself, so an empty table cannot make the comparison below pass.
    expect(oneByOne.tasks.map((r) => (r as { status: string }).status).sort()).toEqual(['completed', 'created', 'failed', 'running', 'stopped']);
    expect(oneByOne.tasks.find((r) => (r as { attempt: number }).attempt === 2)).toMatchObject({ explanation: 'second placement', proplet_id: 'rpi-2' });
    expect(oneByOne.timeline.length).toBeGreaterThan(15);
  });

  it.each([1, 2, 3, 5, 8, 13, 1000])('writes the same rows and timeline in batches of %i events', async (size) => {
    await db.transaction().execute((trx) => tasksProjection.reset(trx));
    for (let i = 0; i < events.length; i += size) {
      const batch = events.slice(i, i + size);
      await db.transaction().execute((trx) => applyTaskEvents(trx, batch));
    }
    expect(await snapshot()).toEqual(oneByOne);
  });

  it('keeps an explanation from an earlier batch when the later batch brings none', async () => {
    await db.transaction().execute((trx) => tasksProjection.reset(trx));
    const id = randomUUID();
    const history = new TaskHistory(id).created().started().scheduled('rpi-1', 1, 'w1').evacuated('rpi-1', 1, 'w1').events;
    const stored = history.map((event, n) => ({
      ...makeEnvelope({ event, aggregateId: id, meta: { correlationId: 'c' }, id: randomUUID(), occurredAt: at(n) }),
      seq: 10 + n,
    }));
    await db.transaction().execute((trx) => applyTaskEvents(trx, stored.slice(0, 3)));
    await db.transaction().execute((trx) => applyTaskEvents(trx, stored.slice(3)));
    const row = (await sql<{ status: string; explanation: string | null; last_seq: number }>`select status, explanation, last_seq from tasks where id = ${id}`.execute(db)).rows[0];
    expect(row).toEqual({ status: 'pending', explanation: 'test', last_seq: 13 });
  });

  it('throws on an event it cannot parse, so the runner can find it event by event', async () => {
    const bad = { ...(events[0] as StoredEnvelope), seq: 9999, data: { name: '' } };
    await expect(db.transaction().execute((trx) => applyTaskEvents(trx, [bad]))).rejects.toThrow(/name/);
  });
});
