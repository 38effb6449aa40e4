import type { Migration } from 'kysely';
import * as createCheckpoints from './20261127T1400_create_checkpoints';

/** This lib's own migrations (the checkpoint table); `migrate` always runs them alongside the caller's. */
export const projectionMigrations: Record<string, Migration> = {
  '20261127T1400_create_checkpoints': createCheckpoints,
};
