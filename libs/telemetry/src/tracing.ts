import { context, propagation, ROOT_CONTEXT, trace, type Context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, hrTimeToMicroseconds, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Header / envelope field / MQTT user property that carries the W3C trace context. */
export const TRACEPARENT = 'traceparent';

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
            service: span.resource.attributes[ATTR_SERVICE_NAME],
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

/** Tracing settings; the `otel` section of the config has this shape. */
export interface TracingOptions {
  /** Record spans (default false). */
  enabled?: boolean;
  /** OTLP endpoint; setting it turns tracing on. */
  endpoint?: string | undefined;
  /** `console` (default: JSON lines on stdout), `memory` (tests) or `none`. */
  exporter?: 'console' | 'memory' | 'none';
  serviceName: string;
  /** Share of new root traces sampled (default 1). */
  sampleRatio?: number;
  /** Where the `console` exporter writes (default stdout). */
  out?: { write(text: string): unknown };
}

/** What `startTracing` started. */
export interface Tracing {
  readonly enabled: boolean;
  /** The span store when `exporter: memory` (tests read finished spans from it). */
  readonly memory: InMemorySpanExporter | undefined;
  /** Things worth a log line (e.g. no OTLP exporter in this build). */
  readonly warnings: readonly string[];
  /** Flushes and unregisters the SDK; tracing falls back to the no-op API. */
  shutdown(): Promise<void>;
}

// Used directly rather than through the global API, so traceparents flow through envelopes and MQTT
// even when no SDK is registered (the default no-op API propagates nothing).
const w3c = new W3CTraceContextPropagator();
const getter = {
  keys: (c: Record<string, string>) => Object.keys(c),
  get: (c: Record<string, string>, k: string) => c[k],
};
const setter = { set: (c: Record<string, string>, k: string, v: string) => void (c[k] = v) };

let contextManagerReady = false;
/** The no-op API has no context manager, so `context.with` would drop the context; install one once. */
function ensureContextManager(): void {
  if (contextManagerReady) return;
  // Returns false when one is already registered (by the SDK), which is just as good.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerReady = true;
}

/**
 * Starts the OpenTelemetry SDK when `enabled` or an `endpoint` is set; otherwise the API stays a no-op
 * and only traceparent propagation works. Registers the W3C propagator and an async-local context.
 */
export function startTracing(options: TracingOptions): Tracing {
  const enabled = (options.enabled ?? false) || (options.endpoint !== undefined && options.endpoint !== '');
  if (!enabled) {
    ensureContextManager();
    return { enabled: false, memory: undefined, warnings: [], shutdown: async () => undefined };
  }
  const warnings: string[] = [];
  if (options.endpoint) {
    // No network exporter is bundled yet (no collector on this machine); spans go to the configured local exporter.
    warnings.push(`otel.endpoint ${options.endpoint} is set but no OTLP exporter is bundled; spans go to the ${options.exporter ?? 'console'} exporter`);
  }
  const memory = options.exporter === 'memory' ? new InMemorySpanExporter() : undefined;
  const spanProcessors: SpanProcessor[] = [];
  if (memory) spanProcessors.push(new SimpleSpanProcessor(memory));
  else if ((options.exporter ?? 'console') === 'console') spanProcessors.push(new BatchSpanProcessor(new JsonLineSpanExporter(options.out)));

  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
    spanProcessors,
  });
  provider.register({ propagator: w3c });
  contextManagerReady = true;
  return {
    enabled: true,
    memory,
    warnings,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
    },
  };
}

/** A tracer from the global API (a no-op one unless `startTracing` enabled the SDK). */
export function getTracer(name: string): Tracer {
  return trace.getTracer(name);
}

/** Writes `traceparent` (and `tracestate`) of `ctx` (default: the active context) into `carrier`; returns it. */
export function injectTraceparent<C extends Record<string, string>>(carrier: C = {} as C, ctx: Context = context.active()): C {
  w3c.inject(ctx, carrier, setter);
  return carrier;
}

/** The active trace context as a W3C `traceparent`, or null when there is none (for the envelope field). */
export function currentTraceparent(ctx: Context = context.active()): string | null {
  return injectTraceparent<Record<string, string>>({}, ctx)[TRACEPARENT] ?? null;
}

/** A context whose parent is the remote span named by `traceparent`; ROOT_CONTEXT for null or a malformed value. */
export function contextFromTraceparent(traceparent: string | null | undefined, tracestate?: string): Context {
  if (!traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { [TRACEPARENT]: traceparent };
  if (tracestate) carrier['tracestate'] = tracestate;
  return w3c.extract(ROOT_CONTEXT, carrier, getter);
}

/** A context from carrier fields such as MQTT 5 user properties or NATS headers copied into an object. */
export function extractContext(carrier: Record<string, string | undefined>): Context {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(carrier)) if (v !== undefined) clean[k.toLowerCase()] = v;
  return w3c.extract(ROOT_CONTEXT, clean, getter);
}

/** Runs `fn` with the remote parent named by `traceparent` active (e.g. while handling an event). */
export function withTraceparent<T>(traceparent: string | null | undefined, fn: () => T): T {
  ensureContextManager();
  return context.with(contextFromTraceparent(traceparent), fn);
}
