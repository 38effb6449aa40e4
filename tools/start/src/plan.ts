import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** One supervised process of the local stack. */
export interface ProcessSpec {
  /** Name shown in front of every output line. */
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  /** Environment added to the supervisor's own. */
  env: Record<string, string>;
  /** URL that answers 200 once the process is ready, if it has one. */
  readyUrl?: string;
}

/** The ports of ARCHITECTURE.md "Ports and observability". */
export const PORTS = { api: 7070, registry: 9101, scheduler: 9102, healthMonitor: 9103, gateway: 9104, k8sAgent: 8080, propletK8s: 9090, propletExternal: 9091 } as const;

/** Whether a kubeconfig is present (`KUBECONFIG` or `~/.kube/config`), so the k8s-agent can run. */
export function hasKubeconfig(env: NodeJS.ProcessEnv, home = homedir()): boolean {
  const fromEnv = env['KUBECONFIG'];
  if (fromEnv) return fromEnv.split(':').some((p) => p !== '' && existsSync(p));
  return existsSync(join(home, '.kube', 'config'));
}

/**
 * What `npm start` runs: every service as its own process, and two local proplets — one that
 * registers as `k8s`, one as an `external` Raspberry Pi. The k8s-agent only with a kubeconfig.
 */
export function localStack(opts: { kubeconfig: boolean; apiPort?: number }): ProcessSpec[] {
  const apiPort = opts.apiPort ?? PORTS.api;
  const health = (port: number) => `http://127.0.0.1:${port}/health`;
  const specs: ProcessSpec[] = [
    { name: 'registry', entry: 'apps/registry/src/main.ts', env: { METRICS_PORT: String(PORTS.registry) }, readyUrl: health(PORTS.registry) },
    { name: 'scheduler', entry: 'apps/scheduler/src/main.ts', env: { METRICS_PORT: String(PORTS.scheduler) }, readyUrl: health(PORTS.scheduler) },
    { name: 'health-monitor', entry: 'apps/health-monitor/src/main.ts', env: { METRICS_PORT: String(PORTS.healthMonitor) }, readyUrl: health(PORTS.healthMonitor) },
    { name: 'mqtt-gateway', entry: 'apps/mqtt-gateway/src/main.ts', env: { METRICS_PORT: String(PORTS.gateway) }, readyUrl: health(PORTS.gateway) },
    { name: 'api', entry: 'apps/api/src/main.ts', env: { PORT: String(apiPort) }, readyUrl: health(apiPort) },
  ];
  if (opts.kubeconfig) {
    specs.push({ name: 'k8s-agent', entry: 'apps/k8s-agent/src/main.ts', env: { METRICS_PORT: String(PORTS.k8sAgent) }, readyUrl: 'http://127.0.0.1:8081/readyz' });
  }
  specs.push(
    {
      name: 'proplet-k8s',
      entry: 'apps/proplet/src/main.ts',
      env: { PROPLET_ID: 'local-k8s-proplet', PROPLET_TYPE: 'k8s', PROPLET_DEVICE_TYPE: 'linux', PROPLET_HTTP_PORT: String(PORTS.propletK8s) },
      readyUrl: health(PORTS.propletK8s),
    },
    {
      name: 'proplet-rpi',
      entry: 'apps/proplet/src/main.ts',
      env: {
        PROPLET_ID: 'local-rpi-proplet',
        PROPLET_TYPE: 'external',
        PROPLET_DEVICE_TYPE: 'raspberry-pi',
        PROPLET_CAPABILITIES: 'wasm,wasi,sensor',
        PROPLET_HTTP_PORT: String(PORTS.propletExternal),
      },
      readyUrl: health(PORTS.propletExternal),
    },
  );
  return specs;
}

/** Restart delay after the `n`-th consecutive crash: 1 s doubling to 30 s. */
export function restartDelayMs(consecutiveCrashes: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, consecutiveCrashes - 1));
}

/** A process that ran this long before crashing starts its backoff afresh. */
export const STABLE_AFTER_MS = 60_000;
