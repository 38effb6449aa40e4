import { ExportResultCode, hrTimeToMicroseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

// The resource attribute of the service name (semantic conventions), spelled out to avoid loading that package.
const SERVICE_NAME = 'service.name';

/**
 * Writes each finished span as one JSON line (`{"span": {...}}`), so stdout stays JSON lines next to the
 * logs; the SDK's ConsoleSpanExporter prints multi-line object dumps that break log collectors.
 */
export class JsonLineSpanExporter implements SpanExporter {
  constructor(private readonly out: { write(text: string): unknown } = process.stdout) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const ctx = span.spanContext();
      this.out.write(
        `${JSON.stringify({
          span: {
            name: span.name,
            service: span.resource.attributes[SERVICE_NAME],
            traceId: ctx.traceId,
            spanId: ctx.spanId,
            parentSpanId: span.parentSpanContext?.spanId,
            kind: span.kind,
            startUs: hrTimeToMicroseconds(span.startTime),
            durationUs: hrTimeToMicroseconds(span.duration),
            status: span.status,
            attributes: span.attributes,
          },
        })}\n`,
      );
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  /** Nothing is buffered here (the batch processor flushes before calling it). */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
