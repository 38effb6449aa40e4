import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { advanceCheckpoint, CHECKPOINT_CHANNEL, ensureCheckpoint } from './checkpoints';
import { createDb } from './db';
import { migrate } from './migrate';
import { testDb, TEST_DATABASE_URL } from './testing';
import { listenerName, waitForSequence } from './wait';

async function eventually(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('waitForSequence (real Postgres)', () => {
  const t = testDb({ poolMax: 2 });
  beforeAll(async () => {
    await migrate(t.db);
    await ensureCheckpoint(t.db, 'orders');
    await ensureCheckpoint(t.db, 'other');
  });
  afterAll(() => t.drop());

  const moveTo = (name: string, from: number, to: number): Promise<void> =>
    t.db.transaction().execute((trx) => advanceCheckpoint(trx, name, from, to));

  it('answers true at once when the checkpoint is already there', async () => {
    await moveTo('orders', 0, 5);
    expect(await waitForSequence(t.db, 'orders', 5, 1000)).toBe(true);
    expect(await waitForSequence(t.db, 'orders', 3, 1000)).toBe(true);
  });

  it('answers false after the timeout when the projection never gets there', async () => {
    const started = Date.now();
    expect(await waitForSequence(t.db, 'orders', 6, 300)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('wakes on the commit that moves the checkpoint, long before the timeout', async () => {
    const waiting = waitForSequence(t.db, { name: 'orders' }, 9, 10_000);
    const started = Date.now();
    await moveTo('orders', 5, 7); // not far enough yet
    await moveTo('other', 0, 9); // another projection reaching 9 does not count
    await moveTo('orders', 7, 9);
    expect(await waiting).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('hears nothing from a transaction that rolled back', async () => {
    const waiting = waitForSequence(t.db, 'orders', 20, 500);
    await expect(
      t.db.transaction().execute(async (trx) => {
        await advanceCheckpoint(trx, 'orders', 9, 20);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await waiting).toBe(false);
  });

  it('waits on one LISTEN connection of its own, closed with the db', async () => {
    const other = createDb({ url: TEST_DATABASE_URL, schema: t.schema, poolMax: 1 });
    const listening = async (): Promise<number> => {
      const r = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where application_name = ${listenerName(t.schema)} and query = ${`listen ${CHECKPOINT_CHANNEL}`}`.execute(t.db);
      return r.rows[0]?.n ?? 0;
    };
    const before = await listening();
    await Promise.all([waitForSequence(other, 'orders', 1, 100), waitForSequence(other, 'orders', 10_000, 100)]);
    expect(await listening()).toBe(before + 1);
    await other.destroy();
    await eventually(async () => (await listening()) === before);
  });

  it('polls when the db was not made by createDb (no LISTEN connection to borrow)', async () => {
    const plain = new Kysely<unknown>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, options: `-c search_path=${t.schema}` }),
      }),
    });
    try {
      const waiting = waitForSequence(plain, 'orders', 12, 5000);
      await moveTo('orders', 9, 12);
      expect(await waiting).toBe(true);
      expect(await waitForSequence(plain, 'orders', 13, 200)).toBe(false);
    } finally {
      await plain.destroy();
    }
  });
});
