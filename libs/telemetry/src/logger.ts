import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** What replaces a redacted value in the logs. */
export const REDACTED = '****';

/**
 * Field paths whose values never reach the logs. pino's `*` matches one level, so the common nestings
 * (a config section, a request's headers) are listed explicitly.
 */
export const REDACT_PATHS: readonly string[] = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'privateKey',
  '*.privateKey',
  'tls.key',
  '*.tls.key',
];

export interface CreateLoggerOptions {
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Fields added to every line. */
  base?: Record<string, unknown>;
}

/**
 * Structured JSON logger of one service: one JSON object a line with `level` as a word, an ISO `time`,
 * `service`, and secret fields (`REDACT_PATHS`) replaced by `****`. Level default `info`.
 */
export function createLogger(service: string, level = 'info', options: CreateLoggerOptions = {}): Logger {
  const opts: LoggerOptions = {
    level,
    base: { service, pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
