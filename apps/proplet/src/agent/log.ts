import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The proplet's JSON logger, in the format of `@propeller/telemetry`'s (level as a word, ISO time,
 * `service`). Built on pino directly because importing `@propeller/telemetry` loads the
 * OpenTelemetry SDK (~14 MB of RSS measured), and the proplet's idle RSS is a goal (≤ 80 MB).
 */
export function createPropletLogger(level = 'info', base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'proplet', pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', '*.password', 'mqtt.password'], censor: '****' },
  });
}
