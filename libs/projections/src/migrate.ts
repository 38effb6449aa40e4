/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import { Migrator, type Kysely, type Migration, type MigrationResult } from 'kysely';
import { InternalError } from '@propeller/events';
import { dbInfo } from './db';
import { projectionMigrations } from './migrations';

/** Thrown when a migration fails; `details.migration` names it and `cause` is the database error. */
export class MigrationFailedError extends InternalError {
  readonly migration: string | undefined;
  constructor(migration: string | undefined, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(migration === undefined ? `migrations failed: ${reason}` : `migration ${migration} failed: ${reason}`, {
      cause,
      details: { migration },
    });
    this.migration = migration;
  }
}

/** Options of `migrate`. */
export interface MigrateOptions {
  /** The caller's migrations, keyed by their frozen timestamped name (`20261127T1400_create_tasks`). */
  migrations?: Record<string, Migration>;
  /** Schema holding the migration tables; defaults to the schema `db` was created for (`createDb`). */
  schema?: string;
}

/**
 * Runs this lib's migrations plus `options.migrations` to the latest, inside the schema. Throws
 * `MigrationFailedError` (name + cause) on the first failure, so a service stops instead of serving a half-built schema.
 * Returns the names of the migrations it ran.
 */
export async function migrate(db: Kysely<any>, options: MigrateOptions = {}): Promise<string[]> {
  const schema = options.schema ?? dbInfo(db)?.schema;
  if (schema === undefined) throw new MigrationFailedError(undefined, new Error('no schema: pass options.schema or a db from createDb'));
  const all: Record<string, Migration> = { ...projectionMigrations };
  for (const [name, m] of Object.entries(options.migrations ?? {})) {
    if (name in all) throw new MigrationFailedError(name, new Error('two migrations share this name'));
    all[name] = m;
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => all },
    migrationTableSchema: schema,
    // Several libs and apps contribute migrations to one schema; one lib's older timestamp may arrive after
    // another's newer one ran. Names are unique and each migration touches only its own tables.
    allowUnorderedMigrations: true,
  });
  let error: unknown;
  let results: MigrationResult[] | undefined;
  try {
    ({ error, results } = await migrator.migrateToLatest());
  } catch (e) {
    error = e;
  }
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new MigrationFailedError(failed, error);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
