import type { TextMapPropagator } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { JsonLineSpanExporter } from './json-exporter';
import type { Tracing, TracingOptions } from './tracing';

/** Builds and registers the SDK (loaded lazily by `startTracing`). */
export function startSdk(options: TracingOptions, propagator: TextMapPropagator): Tracing {
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
  provider.register({ propagator });
  return { enabled: true, memory, warnings, shutdown: () => provider.shutdown() };
}
