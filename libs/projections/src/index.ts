export { createDb, dbInfo, assertSchemaName } from './db';
export type { DbOptions, DbInfo } from './db';
export { migrate, MigrationFailedError } from './migrate';
export type { MigrateOptions } from './migrate';
export { projectionMigrations } from './migrations';
export {
  CHECKPOINT_CHANNEL,
  CheckpointMovedError,
  advanceCheckpoint,
  ensureCheckpoint,
  getCheckpoint,
  markStalled,
  resetCheckpoint,
} from './checkpoints';
export type { Checkpoint, CheckpointNotice, CheckpointStatus, CheckpointTable, ProjectionsTables } from './checkpoints';
export { isValidProjectionName } from './projection';
export type { Projection } from './projection';
export { CHECKPOINT_METRIC, DEFAULT_BATCH_SIZE, STALLED_METRIC, ProjectionApplyError, ProjectionRunner, projectionsCheck, serveProjections } from './runner';
export type {
  ProjectionHealth,
  ProjectionRunnerOptions,
  ProjectionState,
  RunnerHealth,
  RunnerLease,
  RunnerLogger,
  ServedProjections,
  ServeProjectionsOptions,
} from './runner';
export { isTransientDbError } from './transient';
export { listenerName, waitForSequence } from './wait';
