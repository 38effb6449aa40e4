export { hasKubeconfig, localStack, PORTS, restartDelayMs, STABLE_AFTER_MS } from './plan';
export type { ProcessSpec } from './plan';
export { prefixer, SERVICE_NODE_ARGS, Supervisor } from './supervisor';
export type { SupervisorOptions } from './supervisor';
