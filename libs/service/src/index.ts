export { createHealth, DEFAULT_CHECK_TIMEOUT_MS, worstStatus } from './health';
export type { CheckResult, Health, HealthCheck, HealthReport, HealthStatus } from './health';
export { EXIT_CONFIG, EXIT_FAILURE, runService } from './run';
export type { RunningService, ServiceContext, ServiceDefinition, ServiceHandle, ServiceIo } from './run';
export { natsCheck, postgresCheck } from './checks';
export { connectNats, natsConnectOptions } from './nats';
export { startOwning, type OwnedConnections } from './connections';
