import { createServer, type Server } from 'node:http';
import type { PropletMetrics } from './metrics';

/** What `/health` reports. */
export interface HealthState {
  propletId: string;
  connected: boolean;
  draining: boolean;
  running: number;
}

/**
 * `GET /health` (200 while connected and taking work, else 503, with the state as JSON) and
 * `GET /metrics` (Prometheus text). Plain `node:http`: two routes do not justify a framework in a
 * process whose idle RSS is a goal.
 */
export function startHttp(port: number, health: () => HealthState, metrics: PropletMetrics, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/health') {
      const state = health();
      const ok = state.connected && !state.draining;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : state.draining ? 'draining' : 'disconnected', proplet_id: state.propletId, mqtt_connected: state.connected, running_tasks: state.running }));
      return;
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500).end(String(err));
        });
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route ${path}` }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}
