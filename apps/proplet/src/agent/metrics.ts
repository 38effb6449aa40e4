import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskOutcome } from '../sandbox/sandbox';

/** The proplet's own metrics, on `/metrics` next to Node's process metrics (RSS as `process_resident_memory_bytes`). */
export interface PropletMetrics {
  readonly registry: Registry;
  taskStarted(): void;
  taskFinished(outcome: TaskOutcome): void;
}

/**
 * Creates a fresh prom-client registry (prom-client directly rather than `@propeller/telemetry`, whose
 * entry point loads the OpenTelemetry SDK; see log.ts). `running` is read at scrape time so the
 * gauge can never drift from the sandbox.
 */
export function createPropletMetrics(propletId: string, running: () => number): PropletMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'proplet', proplet_id: propletId });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const started = new Counter({ name: 'propeller_proplet_tasks_started_total', help: 'Task runs started on this proplet.', registers });
  const failed = new Counter({ name: 'propeller_proplet_tasks_failed_total', help: 'Task runs that failed, by reason.', labelNames: ['reason'], registers });
  const durations = new Histogram({
    name: 'propeller_proplet_task_duration_seconds',
    help: 'Wall-clock duration of task runs, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers,
  });
  new Gauge({
    name: 'propeller_proplet_tasks_running',
    help: 'Task runs in progress (resolving, queued or running).',
    collect() {
      this.set(running());
    },
    registers,
  });
  new Gauge({
    name: 'propeller_proplet_rss_bytes',
    help: 'Resident set size of the proplet process, task workers included.',
    collect() {
      this.set(process.memoryUsage.rss());
    },
    registers,
  });
  return {
    registry,
    taskStarted: () => started.inc(),
    taskFinished: (o) => {
      if (!o.ok) failed.inc({ reason: o.reason ?? 'error' });
      durations.observe({ outcome: o.ok ? 'success' : 'failure' }, o.durationMs / 1000);
    },
  };
}
