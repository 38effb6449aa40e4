import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PropletHealthChangedData } from '@propeller/events';
import { waitFor } from '@propeller/eventstore/testing';
import { bundleService, byMsg, spawnNode, waitUntilServing, type LogLine, type SpawnedService } from '@propeller/service/testing';
import { openHealthWorld, TEST_LEASE_TTL_MS, type HealthWorld } from './testing';

// Two health-monitor processes on one prefix: one judges (holds health-judge), the other follows along.
// SIGKILL the judge: the other takes over within one check interval, and the dead one's token is refused.
const INTERVAL_MS = 2_000;

describe('health-monitor failover (two processes)', () => {
  let dir: string;
  let w: HealthWorld;
  let stopGateway: () => void;
  const procs: SpawnedService[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-health-e2e-'));
    w = await openHealthWorld();
    stopGateway = w.keepGatewayConnected();
  });

  afterAll(async () => {
    stopGateway?.();
    await Promise.all(procs.map((p) => p.stop('SIGKILL').catch(() => undefined)));
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands judging to the other replica within one interval of a SIGKILL, and refuses the dead judge token', async () => {
    expect(TEST_LEASE_TTL_MS).toBeLessThan(INTERVAL_MS);
    const bundle = bundleService(resolve(__dirname, 'main.ts'), join(dir, 'health-monitor.cjs'));
    const env = {
      METRICS_PORT: '0',
      PROPELLER_NATS_PREFIX: w.names.prefix,
      PROPELLER_NATS_LEASE_TTL: `${TEST_LEASE_TTL_MS}ms`,
      HEALTH_CHECK_INTERVAL: `${INTERVAL_MS}ms`,
      OFFLINE_THRESHOLD: '1500ms',
      FAILURE_THRESHOLD: '10s',
    };
    const a = spawnNode(bundle, { cwd: dir, env });
    const b = spawnNode(bundle, { cwd: dir, env });
    procs.push(a, b);
    const [baseA, baseB] = await Promise.all([waitUntilServing(a, 20_000), waitUntilServing(b, 20_000)]);
    const baseOf = (p: SpawnedService): string => (p === a ? baseA : baseB);

    const acquired = byMsg('health-judge lease acquired');
    const first = await Promise.race([a.waitForLog(acquired, 10_000).then((l) => ({ leader: a, standby: b, line: l })), b.waitForLog(acquired, 10_000).then((l) => ({ leader: b, standby: a, line: l }))]);
    const oldToken = first.line['fencingToken'] as number;

    await w.register('fo-1', 'site-fo');
    await w.register('fo-2', 'site-fo');
    const stopBeats = w.keepBeating(['fo-1', 'fo-2']);
    const healthy = await w.waitForHealth('fo-1', 'healthy', 15_000);
    expect((healthy.data as PropletHealthChangedData).fencingToken).toBe(oldToken);
    await w.waitForHealth('fo-2', 'healthy');

    // Kill the judge, and let fo-2 fall silent at the same moment: only a new judge can notice.
    stopBeats();
    const keepOne = w.keepBeating(['fo-1']);
    try {
      const killedAt = Date.now();
      first.leader.proc.kill('SIGKILL');
      await first.leader.exited;

      const takeover: LogLine = await first.standby.waitForLog(acquired, 10_000);
      const newToken = takeover['fencingToken'] as number;
      expect(newToken).toBeGreaterThan(oldToken);
      const tookOverAt = typeof takeover['time'] === 'number' ? takeover['time'] : Date.parse(String(takeover['time']));
      expect(tookOverAt - killedAt).toBeLessThan(INTERVAL_MS);

      const offline = await w.waitForHealth('fo-2', 'offline', 10_000);
      expect(offline.data).toMatchObject({ from: 'healthy', to: 'offline', fencingToken: newToken, evidence: { source: 'silence' } });
      // The new judge's /metrics says it judges, and shows fo-2's recorded health.
      const fo2Offline = /propeller_proplet_health_status\{[^}]*proplet="fo-2"[^}]*health="offline"[^}]*\} 1/;
      let text = '';
      await waitFor(async () => fo2Offline.test((text = await (await fetch(`${baseOf(first.standby)}/metrics`)).text())), 'the new judge metrics to show fo-2 offline');
      expect(text).toMatch(/propeller_health_judge_leader(\{[^}]*\})? 1/);
      // fo-1 kept beating: the new judge did not disturb it.
      expect(await w.healthPath('fo-1')).toEqual(['healthy']);

      // A command from the dead judge (its token) is refused by the registry and records nothing.
      await expect(
        w.send('proplet.changeHealth', { propletId: 'fo-1', to: 'failed', reason: 'late verdict of a dead judge', evidence: { source: 'silence' } }, { fencingToken: oldToken }),
      ).rejects.toMatchObject({ code: 'NotLeader' });
      await waitFor(async () => (await w.events('proplet', 'fo-1')).length === 2, 'fo-1 to have its registration and one health change only', 2_000);
      expect(await w.healthPath('fo-1')).toEqual(['healthy']);
    } finally {
      keepOne();
    }
  }, 60_000);
});
