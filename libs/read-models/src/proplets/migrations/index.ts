import type { Migration } from 'kysely';
import * as createProplets from './20261127T1500_create_proplets';

/** Migrations of the `proplets` read model, keyed by their frozen names (pass to `migrate` of `@propeller/projections`). */
export const propletsMigrations: Record<string, Migration> = {
  '20261127T1500_create_proplets': createProplets,
};
