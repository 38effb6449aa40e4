import { readFileSync } from 'node:fs';
import { arch, cpus, hostname, networkInterfaces, platform, release, totalmem } from 'node:os';
import type { Capacity } from '@propeller/mqtt-protocol';

/** What the proplet reports about the machine it runs on. */
export interface HostInfo {
  hostname: string;
  os: string;
  cpuArch: string;
  totalMemoryBytes: number;
  ip?: string;
  /** CPU and memory available to this process: the cgroup limits in a container, else the host's. */
  capacity: Capacity;
}

function readFirstLine(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * Capacity from cgroup v2 limits when they are set (a pod with resource limits sees its limits, not
 * the node's), else from the host. CPU as a quantity (`1500m` or `4`), memory as `<n>Mi`.
 */
export function readCapacity(read: (path: string) => string | undefined = readFirstLine): Capacity {
  let cpuMillis = cpus().length * 1000;
  const cpuMax = read('/sys/fs/cgroup/cpu.max');
  const [quota, period] = (cpuMax ?? '').split(/\s+/);
  if (quota !== undefined && quota !== 'max' && period !== undefined && Number(quota) > 0 && Number(period) > 0) {
    cpuMillis = Math.min(cpuMillis, Math.round((Number(quota) / Number(period)) * 1000));
  }
  let memory = totalmem();
  const memMax = read('/sys/fs/cgroup/memory.max');
  if (memMax !== undefined && /^\d+$/.test(memMax)) memory = Math.min(memory, Number(memMax));
  return {
    cpu: cpuMillis % 1000 === 0 ? String(cpuMillis / 1000) : `${cpuMillis}m`,
    memory: `${Math.floor(memory / 2 ** 20)}Mi`,
  };
}

function firstIpv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** Reads the host facts once at start-up. */
export function readHostInfo(): HostInfo {
  const ip = firstIpv4();
  return {
    hostname: hostname(),
    os: `${platform()} ${release()}`,
    cpuArch: arch(),
    totalMemoryBytes: totalmem(),
    ...(ip ? { ip } : {}),
    capacity: readCapacity(),
  };
}
