import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@propeller/config';
import type { Scenario } from '../harness';
import { now, elapsedMs, percentiles, perSecond } from '../stats';

const YAML = `nats:
  url: nats://nats:4222
healthMonitor:
  offlineThreshold: 2m
  breaker:
    share: 0.6
scheduler:
  type: resource-aware
  computeKeywords: [ml, gpu, train]
`;

/** How long one `loadConfig` takes (every service pays it once at start; it must stay far below the 2 s budget). */
export const scenario: Scenario = {
  name: 'config',
  description: 'loadConfig latency from the environment only and with a config.yaml; args: [iterations=2000]',
  async run(ctx) {
    const iterations = Number(ctx.args[0] ?? 2000);
    if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`iterations must be a positive integer, got ${ctx.args[0]}`);
    const dir = mkdtempSync(join(tmpdir(), 'bench-config-'));
    try {
      writeFileSync(join(dir, 'with.yaml'), YAML);
      const cases = {
        'env only': { PROPELLER_CONFIG: '', OFFLINE_THRESHOLD: '5m', SCHEDULER_TYPE: 'hybrid' },
        'env + config.yaml': { PROPELLER_CONFIG: 'with.yaml', OFFLINE_THRESHOLD: '5m' },
      };
      const results: Record<string, unknown> = {};
      const rows: Array<Record<string, string | number>> = [];
      for (const [label, env] of Object.entries(cases)) {
        const samples: number[] = [];
        const t0 = now();
        for (let i = 0; i < iterations; i++) {
          const t = now();
          loadConfig({ env, cwd: dir, service: 'bench' });
          samples.push(elapsedMs(t) * 1000);
        }
        const total = elapsedMs(t0);
        const p = percentiles(samples, [50, 99]);
        const figures = { iterations, loadsPerSecond: perSecond(iterations, total), p50Us: Math.round(p.p50), p99Us: Math.round(p.p99) };
        results[label] = figures;
        rows.push({ case: label, ...figures });
      }
      ctx.table('loadConfig', rows);
      return results;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
