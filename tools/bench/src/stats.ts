import { readFileSync } from 'node:fs';

/**
 * Percentiles by the nearest-rank method over a copy of `samples`:
 * `percentiles([..], [50, 99])` → `{ p50, p99 }`. NaN for an empty sample.
 */
export function percentiles<P extends number>(samples: readonly number[], ps: readonly P[]): Record<`p${P}`, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  const out = {} as Record<`p${P}`, number>;
  for (const p of ps) {
    if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0..100`);
    const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
    out[`p${p}`] = sorted.length === 0 ? NaN : (sorted[rank - 1] as number);
  }
  return out;
}

/** Count, min, mean, max and p50/p90/p99 of a sample. */
export function summarize(samples: readonly number[]): { count: number; min: number; mean: number; max: number; p50: number; p90: number; p99: number } {
  const n = samples.length;
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    count: n,
    min: n === 0 ? NaN : Math.min(...samples),
    mean: n === 0 ? NaN : sum / n,
    max: n === 0 ? NaN : Math.max(...samples),
    ...percentiles(samples, [50, 90, 99]),
  };
}

/** Milliseconds since an earlier `performance.now()` reading; `const t = now(); ...; elapsedMs(t)`. */
export const now = (): number => performance.now();
export const elapsedMs = (since: number): number => performance.now() - since;

/** Operations per second, rounded to one decimal. */
export function perSecond(count: number, ms: number): number {
  return ms <= 0 ? NaN : Math.round((count / ms) * 10_000) / 10;
}

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat. It is 100 on every Linux ABI Node runs on.
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat` (Linux only). */
export function cpuSeconds(pid: number = process.pid): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses; fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is index 0, so utime (field 14) is index 11 and stime (field 15) index 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory of a process in MiB, from `/proc/<pid>/status` (Linux only). */
export function rssMb(pid: number = process.pid): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Math.round((Number(m[1]) / 1024) * 10) / 10;
}
