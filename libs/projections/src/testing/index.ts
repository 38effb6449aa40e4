/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { assertSchemaName, createDb } from '../db';

/** The test database on this machine (trust auth); override with `TEST_DATABASE_URL`. */
export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name per test file (`t_<12 hex>`), so runs never meet. */
export function testSchema(tag = 't'): string {
  return assertSchemaName(`${tag}_${randomBytes(6).toString('hex')}`);
}

/** Drops `schema` and everything in it. */
export async function dropSchema(db: Kysely<any>, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql.id(assertSchemaName(schema))} cascade`.execute(db);
}

/** A small pool (default 2 connections) on a fresh test schema, and `drop()` that removes the schema and closes the pool. */
export function testDb<DB = any>(options: { poolMax?: number; schema?: string } = {}): {
  db: Kysely<DB>;
  schema: string;
  url: string;
  drop(): Promise<void>;
} {
  const schema = options.schema ?? testSchema();
  const db = createDb<DB>({ url: TEST_DATABASE_URL, schema, poolMax: options.poolMax ?? 2 });
  return {
    db,
    schema,
    url: TEST_DATABASE_URL,
    async drop() {
      try {
        await dropSchema(db as Kysely<any>, schema);
      } finally {
        await db.destroy();
      }
    },
  };
}
