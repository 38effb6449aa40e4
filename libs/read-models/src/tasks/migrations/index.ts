import type { Migration } from 'kysely';
import * as createTasks from './20261127T1600_create_tasks';

/** Migrations of the `tasks` read model, keyed by their frozen names (pass to `migrate` of `@propeller/projections`). */
export const tasksMigrations: Record<string, Migration> = {
  '20261127T1600_create_tasks': createTasks,
};
