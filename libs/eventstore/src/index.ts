export { ConcurrencyError, isConcurrencyError, type ConcurrencyDetails } from './errors';
export {
  provision,
  provisionOptionsFrom,
  ensureStream,
  kvStreamName,
  objStreamName,
  isStreamNotFound,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_DLQ_MAX_BYTES,
  DEFAULT_LEASE_TTL_MS,
  DEFAULT_METRICS_MAX_AGE_MS,
  type ProvisionOptions,
  type ProvisionReport,
} from './provision';
export { encodeEnvelope, decodeEnvelope, envelopeHeaders } from './codec';
export { HeldMessages } from './held-messages';
export { RecentEvents, type RecentEventsOptions } from './recent-events';
export { typeHeader, msgIdHeader } from './type-header';
export { ModuleStore } from './module-store';
export { openOnce } from './open-once';
export { EventStore, snapshotKey, type AppendResult, type LoadResult, type Snapshot, type EventStoreOptions } from './event-store';
export {
  AggregateCache,
  handleCommand,
  loadFolded,
  SNAPSHOT_EVERY,
  type Decider,
  type CachedAggregate,
  type EventLike,
  type EnvelopeContext,
  type HandleCommandOptions,
  type HandleCommandResult,
} from './decider';
export {
  serveCommands,
  sendCommand,
  sendCommands,
  CommandBatcher,
  HEADER_BATCH,
  MAX_BATCH_COMMANDS,
  type CommandResult,
  type CommandOk,
  type CommandFailed,
  type CommandReply,
  type CommandContext,
  type CommandHandler,
  type CommandServer,
  type ServeCommandsOptions,
  type SendCommandOptions,
  type CommandBatcherOptions,
} from './commands';
export { KeyedQueue, backoffDelay, DEFAULT_BACKOFF, type Backoff } from './keyed-queue';
export { runConsumer, type RunConsumerOptions, type ConsumerRunner, type ConsumerStats } from './consumer';
export {
  listDeadLetters,
  replayDeadLetter,
  publishDeadLetter,
  describeError,
  HEADER_DLQ_ERROR,
  HEADER_DLQ_SEQ,
  type DeadLetter,
  type StoredDeadLetter,
  type EventHandler,
  type HandlerContext,
} from './dead-letters';
export { Lease, leaseAcquirer, assertFencingToken, currentToken, type LeaseOptions, type LeaseRecord } from './lease';
export {
  rebuildSubject,
  replaySubject,
  sendAdminRequest,
  serveAdminRequests,
  type AdminReply,
  type AdminTargets,
} from './admin';
