import { resolve } from 'node:path';
import { spawnTs, waitUntilServing } from './spawn';

describe('spawnTs', () => {
  it('runs a TypeScript service through tsx until it serves, and stops it with SIGTERM', async () => {
    const s = spawnTs(resolve(__dirname, '../../test/tiny-service.ts'), { env: { METRICS_PORT: '0' } });
    try {
      const base = await waitUntilServing(s, 20_000);
      expect((await fetch(`${base}/health`)).status).toBe(200);
    } finally {
      const exit = await s.stop();
      expect(exit.code).toBe(0);
    }
    expect(s.logs().map((l) => l['msg'])).toContain('fixture stopped');
  });

  it('rejects a wait with the output when the process exits first', async () => {
    const s = spawnTs(resolve(__dirname, '../../test/tiny-service.ts'), { env: { SCHEDULER_TYPE: 'fast' } });
    await expect(s.waitForLog(() => false, 20_000)).rejects.toThrow(/exited \(78\) before the log line[\s\S]*SCHEDULER_TYPE=fast/);
  });
});
