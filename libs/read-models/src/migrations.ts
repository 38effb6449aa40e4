import type { Migration } from 'kysely';
import { propletsMigrations } from './proplets';
import { tasksMigrations } from './tasks';

/**
 * Every read model's migrations. The read models share one schema (the API reads them together),
 * so every service that migrates it runs this whole set: the schema has one history that all of
 * them agree on, whichever service starts first. Each migration touches only its own tables.
 */
export const readModelMigrations: Record<string, Migration> = { ...propletsMigrations, ...tasksMigrations };
