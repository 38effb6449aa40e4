import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterConfiguration, GaugeConfiguration, HistogramConfiguration, Metric } from 'prom-client';

/** A service's Prometheus registry with get-or-create helpers, so two modules asking for one metric share it. */
export interface Metrics {
  readonly registry: Registry;
  /** Content type of `metricsText()` for the `/metrics` response. */
  readonly contentType: string;
  /** The exposition text of every metric in the registry. */
  metricsText(): Promise<string>;
  counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L>;
  gauge<L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L>;
  histogram<L extends string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L>;
}

export interface CreateMetricsOptions {
  /** Collect Node's process metrics (CPU, memory, event loop lag, ...); default true. */
  defaultMetrics?: boolean;
  /** Labels on every metric (e.g. `{ service: 'registry' }`); default none. */
  labels?: Record<string, string>;
}

/**
 * A fresh registry (never prom-client's global one, so tests and several services in one process do not
 * collide), with Node's default process metrics unless turned off.
 */
export function createMetrics(options: CreateMetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  function getOrCreate<M extends Metric>(name: string, kind: new (...args: never[]) => M, make: () => M): M {
    const existing = registry.getSingleMetric(name);
    if (existing === undefined) return make();
    if (!(existing instanceof kind)) throw new Error(`metric ${name} is already registered as another kind`);
    return existing;
  }

  return {
    registry,
    contentType: registry.contentType,
    metricsText: () => registry.metrics(),
    counter: (config) => getOrCreate(config.name, Counter, () => new Counter({ ...config, registers: [registry] })),
    gauge: (config) => getOrCreate(config.name, Gauge, () => new Gauge({ ...config, registers: [registry] })),
    histogram: (config) => getOrCreate(config.name, Histogram, () => new Histogram({ ...config, registers: [registry] })),
  };
}
