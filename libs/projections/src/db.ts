import { CompiledQuery, Kysely, PostgresDialect, type DatabaseConnection } from 'kysely';
import pg from 'pg';
import { InvalidError } from '@propeller/events';

/** Options of `createDb`; defaults come from the caller's configuration (DATABASE_URL, schema `propeller`, pool 5). */
export interface DbOptions {
  /** Postgres connection string, e.g. `postgres://postgres@127.0.0.1:5432/postgres`. */
  url: string;
  /** Schema every connection works in (`search_path`); created if missing. */
  schema: string;
  /** Largest number of pooled connections. */
  poolMax: number;
  /** Told about errors of idle pooled connections (server restart, terminated backend); default: ignored. */
  onError?: (error: Error) => void;
}

/** What `createDb` remembers about a `Kysely` it made, so `waitForSequence` can open its own LISTEN connection. */
export interface DbInfo {
  readonly url: string;
  readonly schema: string;
  /** Closed together with the pool (`db.destroy()`). */
  readonly onDestroy: Array<() => Promise<void>>;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const infos = new WeakMap<object, DbInfo>();

/** Checks a schema name is a plain lower-case identifier (so double quotes are all the quoting it needs). */
export function assertSchemaName(schema: string): string {
  if (!SCHEMA_RE.test(schema)) {
    throw InvalidError.field('schema', schema, 'must match [a-z_][a-z0-9_]{0,62}');
  }
  return schema;
}

// bigint (int8) columns hold stream sequences and counts, far below 2^53: this pool reads them as numbers,
// not strings. Per pool, so other pg users in the process keep pg's defaults.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A `Kysely<DB>` whose every connection works inside `schema` (created if missing, then `search_path`).
 * Destroy it with `db.destroy()`; that also closes any LISTEN connection `waitForSequence` opened.
 */
export function createDb<DB>(options: DbOptions): Kysely<DB> {
  const schema = assertSchemaName(options.schema);
  const onDestroy: Array<() => Promise<void>> = [];
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolMax, idleTimeoutMillis: 10_000, types });
  // An idle client whose server connection dies makes the pool emit 'error'; unheard, that would crash the
  // process. The pool has already dropped the client, and queries that were running report their own errors.
  pool.on('error', (e) => options.onError?.(e));
  // Same for a client checked out by a transaction that is between two queries: its next query fails with the
  // connection error (the caller sees it), so the event itself only needs a listener.
  pool.on('connect', (client) => client.on('error', (e) => options.onError?.(e)));
  const end = pool.end.bind(pool);
  // Kysely's destroy() ends the pool; closing the listener there too means one call releases everything.
  pool.end = (async () => {
    await Promise.allSettled(onDestroy.map((f) => f()));
    await end();
  }) as typeof pool.end;
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({
      pool,
      // Every connection, on creation: make sure the schema exists, then work inside it.
      onCreateConnection: async (conn) => {
        await ensureSchema(conn, schema);
        // The schema name passed assertSchemaName, so quoting it is enough.
        await conn.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
      },
    }),
  });
  infos.set(db, { url: options.url, schema, onDestroy });
  return db;
}

/** The `createDb` options behind `db`, or `undefined` for a `Kysely` made elsewhere (or a transaction). */
export function dbInfo(db: object): DbInfo | undefined {
  return infos.get(db);
}

async function ensureSchema(conn: DatabaseConnection, schema: string): Promise<void> {
  // Look first: CREATE SCHEMA checks the CREATE privilege even when the schema exists, and a production role may lack it.
  const found = await conn.executeQuery(CompiledQuery.raw('select 1 from pg_namespace where nspname = $1', [schema]));
  if (found.rows.length > 0) return;
  try {
    await conn.executeQuery(CompiledQuery.raw(`create schema if not exists "${schema}"`));
  } catch (e) {
    // Two connections creating the same schema at once: one loses on pg_namespace's unique index. The schema exists.
    if ((e as { code?: string }).code !== '23505') throw e;
  }
}
