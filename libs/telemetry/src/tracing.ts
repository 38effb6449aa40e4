import { context, propagation, ROOT_CONTEXT, trace, type Context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

/** Header / envelope field / MQTT user property that carries the W3C trace context. */
export const TRACEPARENT = 'traceparent';

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
 * and only traceparent propagation works. The SDK is imported only here, when it is turned on, so a
 * process that never traces does not pay its memory (~14 MB RSS measured by the proplet).
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const enabled = (options.enabled ?? false) || (options.endpoint !== undefined && options.endpoint !== '');
  if (!enabled) {
    ensureContextManager();
    return { enabled: false, memory: undefined, warnings: [], shutdown: async () => undefined };
  }
  const { startSdk } = await import('./sdk');
  const started = startSdk(options, w3c);
  contextManagerReady = true;
  return {
    ...started,
    async shutdown() {
      await started.shutdown();
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
