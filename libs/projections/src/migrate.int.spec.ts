import { sql, type Kysely } from 'kysely';
import { migrate, MigrationFailedError } from './migrate';
import { testDb } from './testing';

describe('migrate (real Postgres)', () => {
  const t = testDb({ poolMax: 1 });
  afterAll(() => t.drop());

  it('creates the checkpoint table and the migration tables inside the schema', async () => {
    const ran = await migrate(t.db);
    expect(ran).toEqual(['20261127T1400_create_checkpoints']);
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = ${t.schema} order by table_name`.execute(t.db);
    expect(tables.rows.map((r) => r.table_name)).toEqual(['kysely_migration', 'kysely_migration_lock', 'projection_checkpoints']);
  });

  it('runs nothing the second time', async () => {
    expect(await migrate(t.db)).toEqual([]);
  });

  it('runs a caller migration alongside its own, and names a failing one in the error', async () => {
    const ok = {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('widgets').addColumn('id', 'text', (c) => c.primaryKey()).execute();
      },
    };
    expect(await migrate(t.db, { migrations: { '20261127T1500_create_widgets': ok } })).toEqual(['20261127T1500_create_widgets']);

    const broken = {
      async up(db: Kysely<unknown>) {
        await sql`create table widgets (id text)`.execute(db); // already exists
      },
    };
    const failure = migrate(t.db, { migrations: { '20261127T1500_create_widgets': ok, '20261127T1600_broken': broken } });
    await expect(failure).rejects.toBeInstanceOf(MigrationFailedError);
    await expect(failure).rejects.toMatchObject({
      migration: '20261127T1600_broken',
      message: expect.stringMatching(/^migration 20261127T1600_broken failed: .*"widgets" already exists/),
    });
  });
});
