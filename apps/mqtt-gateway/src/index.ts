export {
  gatewayConfigFrom,
  readPem,
  DEFAULT_LIVENESS_REFRESH_MS,
  DEFAULT_QUEUE_CAPACITY,
  DEFAULT_SESSION_EXPIRY_MS,
  DEFAULT_SHARE_GROUP,
  type GatewayConfig,
} from './config';
export { PropletDirectory, type DirectoryEntry, type DirectoryStatus, type PropletEventLike } from './directory';
export { startGateway, HANDLING_METRIC, RECEIVED_METRIC, REJECTED_METRIC, type GatewayLogger, type RunningGateway, type StartGatewayOptions } from './gateway';
export { gatewayStatusTopic, MqttLink, RECONNECT_MAX_MS, RECONNECT_MIN_MS, type LinkEvents, type MessageHandler } from './mqtt-link';
export { ensureInbox, followPropletEvents, INBOX_MAX_AGE_MS, INBOX_MAX_BYTES, metricsKvKey, withRetry, type EventFollower } from './nats';
export { excerpt, inboxMsgId, MAX_EXCERPT_CHARS, route, type Action, type DropReason, type InboxRecord, type MetricsRecord, type RouteContext } from './route';
export { BoundedKeyedQueue } from './work-queue';
