import { sql } from 'kysely';
import { advanceCheckpoint, CheckpointMovedError, ensureCheckpoint, getCheckpoint, markStalled, resetCheckpoint } from './checkpoints';
import { migrate } from './migrate';
import { testDb } from './testing';

describe('checkpoints (real Postgres)', () => {
  const t = testDb({ poolMax: 2 });
  beforeAll(async () => {
    await migrate(t.db);
    await sql`create table rows (v int)`.execute(t.db);
  });
  afterAll(() => t.drop());

  it('starts a projection at 0, running', async () => {
    expect(await getCheckpoint(t.db, 'p')).toBeUndefined();
    expect(await ensureCheckpoint(t.db, 'p')).toMatchObject({ name: 'p', seq: 0, status: 'running', error: null });
    expect((await ensureCheckpoint(t.db, 'p')).seq).toBe(0);
  });

  it('refuses a writer whose starting point is stale, and nothing it wrote in that transaction stays', async () => {
    await t.db.transaction().execute((trx) => advanceCheckpoint(trx, 'p', 0, 10));
    const stale = t.db.transaction().execute(async (trx) => {
      await sql`insert into rows values (1)`.execute(trx);
      await advanceCheckpoint(trx, 'p', 0, 7); // a second instance that still believes 0
    });
    await expect(stale).rejects.toBeInstanceOf(CheckpointMovedError);
    await expect(stale).rejects.toMatchObject({ code: 'Conflict' });
    expect((await getCheckpoint(t.db, 'p'))?.seq).toBe(10);
    expect((await sql<{ n: number }>`select count(*)::int as n from rows`.execute(t.db)).rows[0]?.n).toBe(0);
  });

  it('keeps the sequence when stalled, and a reset or the next advance clears the stall', async () => {
    await markStalled(t.db, 'p', 'event 11 (X): boom');
    expect(await getCheckpoint(t.db, 'p')).toMatchObject({ seq: 10, status: 'stalled', error: 'event 11 (X): boom' });
    await t.db.transaction().execute((trx) => advanceCheckpoint(trx, 'p', 10, 12));
    expect(await getCheckpoint(t.db, 'p')).toMatchObject({ seq: 12, status: 'running', error: null });
    await markStalled(t.db, 'p', 'again');
    await t.db.transaction().execute((trx) => resetCheckpoint(trx, 'p'));
    expect(await getCheckpoint(t.db, 'p')).toMatchObject({ seq: 0, status: 'running', error: null });
  });
});
