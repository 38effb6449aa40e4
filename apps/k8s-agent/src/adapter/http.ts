import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { PropletResource, TaskResource } from '../crd/types';
import { PROPLET_PHASES, TASK_PHASES } from '../names';

/** The operator's Prometheus metrics, computed from its informer caches at scrape time. */
export class OperatorMetrics {
  readonly reconciles: Counter<'kind' | 'result'>;
  readonly leader: Gauge;

  /** Registers the metrics in `registry` (the service's, in production; a fresh one by default). */
  constructor(
    source: { proplets: () => PropletResource[]; tasks: () => TaskResource[] },
    readonly registry: Registry = new Registry(),
  ) {
    new Gauge({
      name: 'propeller_proplets_total',
      help: 'Proplet custom resources by type and phase',
      labelNames: ['type', 'phase'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const type of ['k8s', 'external']) for (const phase of PROPLET_PHASES) counts.set(`${type}|${phase}`, 0);
        for (const p of source.proplets()) {
          const key = `${p.spec?.type ?? 'unknown'}|${p.status?.phase ?? 'Initializing'}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [key, n] of counts) {
          const [type = '', phase = ''] = key.split('|');
          this.set({ type, phase }, n);
        }
      },
    });
    new Gauge({
      name: 'propeller_tasks_total',
      help: 'Task custom resources by preferred proplet type and phase',
      labelNames: ['type', 'phase'],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const type of ['k8s', 'external', 'any']) for (const phase of TASK_PHASES) counts.set(`${type}|${phase}`, 0);
        for (const t of source.tasks()) {
          const key = `${t.spec?.preferredPropletType ?? 'any'}|${t.status?.phase ?? 'Pending'}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [key, n] of counts) {
          const [type = '', phase = ''] = key.split('|');
          this.set({ type, phase }, n);
        }
      },
    });
    this.reconciles = new Counter({ name: 'propeller_k8s_reconciles_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers: [this.registry] });
    this.leader = new Gauge({ name: 'propeller_k8s_leader', help: '1 while this replica holds the leader Lease', registers: [this.registry] });
  }
}

/** A started HTTP server and its port. */
export interface Listening {
  port: number;
  close(): Promise<void>;
}

async function listen(server: Server, port: number): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `GET /metrics` (default port 8080). */
export function serveMetrics(metrics: OperatorMetrics, port: number): Promise<Listening> {
  return listen(
    createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body))
        .catch((e: unknown) => res.writeHead(500).end(String(e)));
    }),
    port,
  );
}

/**
 * Probes (default port 8081): `/healthz` answers while the process runs its loops, `/readyz` once the
 * informers have listed. Readiness does not depend on leadership, so standby replicas stay Ready.
 */
export function serveProbes(state: { live: () => boolean; ready: () => boolean }, port: number): Promise<Listening> {
  return listen(
    createServer((req, res) => {
      const ok = req.url === '/healthz' ? state.live() : req.url === '/readyz' ? state.ready() : undefined;
      if (ok === undefined) return void res.writeHead(404).end();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
    }),
    port,
  );
}
