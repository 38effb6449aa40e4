import { createMetrics, type Metrics } from '@propeller/telemetry';
import type { TaskOutcome } from '../sandbox/sandbox';

/** The proplet's own metrics, on `/metrics` next to Node's process metrics (RSS as `process_resident_memory_bytes`). */
export interface PropletMetrics {
  readonly metrics: Metrics;
  taskStarted(): void;
  taskFinished(outcome: TaskOutcome): void;
}

/** Creates the registry; `running` is read at scrape time so the gauge can never drift from the sandbox. */
export function createPropletMetrics(propletId: string, running: () => number): PropletMetrics {
  const metrics = createMetrics({ labels: { service: 'proplet', proplet_id: propletId } });
  const started = metrics.counter({ name: 'propeller_proplet_tasks_started_total', help: 'Task runs started on this proplet.' });
  const failed = metrics.counter({ name: 'propeller_proplet_tasks_failed_total', help: 'Task runs that failed, by reason.', labelNames: ['reason'] });
  const durations = metrics.histogram({
    name: 'propeller_proplet_task_duration_seconds',
    help: 'Wall-clock duration of task runs, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
  });
  metrics.gauge({
    name: 'propeller_proplet_tasks_running',
    help: 'Task runs in progress (resolving, queued or running).',
    collect() {
      this.set(running());
    },
  });
  metrics.gauge({
    name: 'propeller_proplet_rss_bytes',
    help: 'Resident set size of the proplet process, task workers included.',
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  return {
    metrics,
    taskStarted: () => started.inc(),
    taskFinished: (o) => {
      if (!o.ok) failed.inc({ reason: o.reason ?? 'error' });
      durations.observe({ outcome: o.ok ? 'success' : 'failure' }, o.durationMs / 1000);
    },
  };
}
