export { createLogger, REDACT_PATHS, REDACTED } from './logger';
export type { CreateLoggerOptions, Logger } from './logger';
export { createMetrics } from './metrics';
export type { CreateMetricsOptions, Metrics } from './metrics';
export {
  contextFromTraceparent,
  currentTraceparent,
  extractContext,
  getTracer,
  injectTraceparent,
  startTracing,
  TRACEPARENT,
  withTraceparent,
} from './tracing';
export type { Tracing, TracingOptions } from './tracing';
export { JsonLineSpanExporter } from './json-exporter';
