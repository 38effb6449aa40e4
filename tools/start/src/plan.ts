import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidError } from '@propeller/events';

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
  /** Processes whose `readyUrl` must answer before this one first starts (restarts do not wait). */
  startAfter?: string[];
}

/** Every HTTP port of the local stack. */
export interface StackPorts {
  api: number;
  registry: number;
  scheduler: number;
  healthMonitor: number;
  gateway: number;
  propletK8s: number;
  propletExternal: number;
  k8sAgent: number;
  k8sAgentProbes: number;
}

/** The ports of ARCHITECTURE.md "Ports and observability" (the default of `npm start`). */
export const PORTS: Readonly<StackPorts> = {
  api: 7070,
  registry: 9101,
  scheduler: 9102,
  healthMonitor: 9103,
  gateway: 9104,
  propletK8s: 9090,
  propletExternal: 9091,
  k8sAgent: 8080,
  k8sAgentProbes: 8081,
};

/** The order in which `PROPELLER_START_PORT_BASE` hands out ports: base + index. */
export const PORT_ORDER: readonly (keyof StackPorts)[] = ['api', 'registry', 'scheduler', 'healthMonitor', 'gateway', 'propletK8s', 'propletExternal', 'k8sAgent', 'k8sAgentProbes'];

/** Env var that moves the whole local stack onto the ports base … base+8 (in `PORT_ORDER`); unset: `PORTS`. */
export const PORT_BASE_ENV = 'PROPELLER_START_PORT_BASE';
/** Env var naming the local proplets `<prefix>-k8s-proplet` and `<prefix>-rpi-proplet` (default `local`). */
export const PROPLET_PREFIX_ENV = 'PROPELLER_START_PROPLET_PREFIX';

const MAX_BASE = 65535 - (PORT_ORDER.length - 1);

/**
 * The ports of the local stack: with a base, base + index in `PORT_ORDER` for every process (so a second
 * stack, e.g. an e2e test, never collides with a developer's running one); without, `PORTS` with the API
 * on `apiPort` (the shared `api.port` key, default 7070).
 */
export function stackPorts(opts: { base?: number; apiPort?: number } = {}): StackPorts {
  if (opts.base === undefined) return { ...PORTS, api: opts.apiPort ?? PORTS.api };
  const base = opts.base;
  return Object.fromEntries(PORT_ORDER.map((key, i) => [key, base + i])) as unknown as StackPorts;
}

/** Reads `PROPELLER_START_PORT_BASE`; undefined when unset or empty, `InvalidError` naming the key, value and form when bad. */
export function portBaseFrom(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const raw = env[PORT_BASE_ENV]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1024 || n > MAX_BASE) {
    throw InvalidError.field(PORT_BASE_ENV, raw, `expected an integer from 1024 to ${MAX_BASE} (the stack uses ${PORT_ORDER.length} ports from it)`);
  }
  return n;
}

/** The ids of the two local proplets, from `PROPELLER_START_PROPLET_PREFIX` (default `local`). */
export function localPropletIds(env: Readonly<Record<string, string | undefined>>): { k8s: string; rpi: string } {
  const raw = env[PROPLET_PREFIX_ENV]?.trim();
  const prefix = raw === undefined || raw === '' ? 'local' : raw;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(prefix)) {
    throw InvalidError.field(PROPLET_PREFIX_ENV, raw, 'expected letters, digits, "-" or "_" (at most 64)');
  }
  return { k8s: `${prefix}-k8s-proplet`, rpi: `${prefix}-rpi-proplet` };
}

/** Whether a kubeconfig is present (`KUBECONFIG` or `~/.kube/config`), so the k8s-agent can run. */
export function hasKubeconfig(env: NodeJS.ProcessEnv, home = homedir()): boolean {
  const fromEnv = env['KUBECONFIG'];
  if (fromEnv) return fromEnv.split(':').some((p) => p !== '' && existsSync(p));
  return existsSync(join(home, '.kube', 'config'));
}

/**
 * What `npm start` runs: every service as its own process, and two local proplets — one that
 * registers as `k8s`, one as an `external` Raspberry Pi. The k8s-agent only with a kubeconfig.
 * Ports are set through the canonical `PROPELLER_*` keys, which win over their aliases, so an
 * inherited `PROPELLER_METRICS_PORT` cannot put two services on one port.
 */
export function localStack(opts: { kubeconfig: boolean; ports?: StackPorts; propletIds?: { k8s: string; rpi: string } }): ProcessSpec[] {
  const ports = opts.ports ?? PORTS;
  const ids = opts.propletIds ?? { k8s: 'local-k8s-proplet', rpi: 'local-rpi-proplet' };
  const health = (port: number) => `http://127.0.0.1:${port}/health`;
  const service = (name: string, entry: string, port: number): ProcessSpec => ({
    name,
    entry,
    env: { PROPELLER_METRICS_PORT: String(port) },
    readyUrl: health(port),
  });
  const specs: ProcessSpec[] = [
    service('registry', 'apps/registry/src/main.ts', ports.registry),
    service('scheduler', 'apps/scheduler/src/main.ts', ports.scheduler),
    service('health-monitor', 'apps/health-monitor/src/main.ts', ports.healthMonitor),
    service('mqtt-gateway', 'apps/mqtt-gateway/src/main.ts', ports.gateway),
    { name: 'api', entry: 'apps/api/src/main.ts', env: { PROPELLER_API_PORT: String(ports.api) }, readyUrl: health(ports.api) },
  ];
  if (opts.kubeconfig) {
    specs.push({
      name: 'k8s-agent',
      entry: 'apps/k8s-agent/src/main.ts',
      env: { PROPELLER_METRICS_PORT: String(ports.k8sAgent), PROPELLER_K8S_PROBE_PORT: String(ports.k8sAgentProbes) },
      readyUrl: `http://127.0.0.1:${ports.k8sAgentProbes}/readyz`,
    });
  }
  // A proplet announces itself once, when it connects: a `create` published before the gateway subscribes
  // is lost (a fresh gateway session queues nothing), and its first heartbeat then registers it with
  // defaults (type external, capabilities [wasm], no per-proplet topics). So the proplets start once the
  // gateway and the registry it forwards `create` to are ready.
  const afterGateway = ['registry', 'mqtt-gateway'];
  specs.push(
    {
      name: 'proplet-k8s',
      entry: 'apps/proplet/src/main.ts',
      env: { PROPLET_ID: ids.k8s, PROPLET_TYPE: 'k8s', PROPLET_DEVICE_TYPE: 'linux', PROPELLER_PROPLET_HTTP_PORT: String(ports.propletK8s) },
      readyUrl: health(ports.propletK8s),
      startAfter: afterGateway,
    },
    {
      name: 'proplet-rpi',
      entry: 'apps/proplet/src/main.ts',
      env: {
        PROPLET_ID: ids.rpi,
        PROPLET_TYPE: 'external',
        PROPLET_DEVICE_TYPE: 'raspberry-pi',
        PROPLET_CAPABILITIES: 'wasm,wasi,sensor',
        PROPELLER_PROPLET_HTTP_PORT: String(ports.propletExternal),
      },
      readyUrl: health(ports.propletExternal),
      startAfter: afterGateway,
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
