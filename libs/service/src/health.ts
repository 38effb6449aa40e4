/** State of one check or of the whole service, as `/health` reports it. */
export type HealthStatus = 'pass' | 'degraded' | 'fail';

export interface CheckResult {
  status: HealthStatus;
  /** Why it is not `pass` (shown in `/health`). */
  detail?: string;
}

/** A health check: `true`/`false`, or a result with a detail; throwing or timing out counts as `fail`. */
export type HealthCheck = () => boolean | CheckResult | Promise<boolean | CheckResult>;

/** The body of `/health`. */
export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, CheckResult>;
}

/** The checks a service registers; `/health` runs them all on each request. */
export interface Health {
  /** Adds (or replaces) a named check. */
  register(name: string, check: HealthCheck): void;
  /** Removes a named check. */
  unregister(name: string): void;
  /** Runs every check concurrently, each bounded by the timeout. */
  report(): Promise<HealthReport>;
}

/** Longest time one check may take before it counts as failed (default 1 s). */
export const DEFAULT_CHECK_TIMEOUT_MS = 1_000;

const RANK: Record<HealthStatus, number> = { pass: 0, degraded: 1, fail: 2 };

/** The worst of a set of statuses: any `fail` fails, else any `degraded` degrades. */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'pass';
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'fail', detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const outcome = Promise.resolve()
      .then(check)
      .then((r): CheckResult => (typeof r === 'boolean' ? { status: r ? 'pass' : 'fail' } : r))
      .catch((e: unknown): CheckResult => ({ status: 'fail', detail: e instanceof Error ? e.message : String(e) }));
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A registry of health checks. */
export function createHealth(timeoutMs: number = DEFAULT_CHECK_TIMEOUT_MS): Health {
  const checks = new Map<string, HealthCheck>();
  return {
    register: (name, check) => void checks.set(name, check),
    unregister: (name) => void checks.delete(name),
    async report() {
      const entries = await Promise.all([...checks].map(async ([name, check]) => [name, await runCheck(check, timeoutMs)] as const));
      const results = Object.fromEntries(entries);
      return { status: worstStatus(entries.map(([, r]) => r.status)), checks: results };
    },
  };
}
