import { LEASE_NAMES, type PropletHealthChangedData } from '@propeller/events';
import { Lease } from '@propeller/eventstore';
import { waitFor } from '@propeller/eventstore/testing';
import { createMetrics } from '@propeller/telemetry';
import { startHealthMonitor, type RunningHealthMonitor } from './monitor';
import { openHealthWorld, type HealthWorld } from './testing';

// A replica without the health-judge lease follows everything and sends nothing; when it gets the
// lease it judges at once what it had seen as a standby.
const OFFLINE_MS = 1_500;
const INTERVAL_MS = 1_000;

describe('health monitor standby', () => {
  let w: HealthWorld;
  let other: Lease;
  let monitor: RunningHealthMonitor;
  let stopGateway: () => void;

  beforeAll(async () => {
    w = await openHealthWorld();
    stopGateway = w.keepGatewayConnected();
    other = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'another-judge' })).start();
    await other.waitUntilHeld(5_000);
  });

  afterAll(async () => {
    stopGateway?.();
    await monitor?.stop();
    await other?.release();
    await w?.close();
  });

  it('sends no verdict while another replica judges, and judges what it saw as soon as it takes over', async () => {
    await w.register('sb-1', 'site-sb');
    // The other judge saw sb-1 beat.
    await w.send('proplet.changeHealth', { propletId: 'sb-1', to: 'healthy', reason: 'heartbeat received', evidence: { source: 'heartbeat' } }, { fencingToken: other.token() });
    await w.beat('sb-1');
    await w.waitForHealth('sb-1', 'healthy');

    monitor = await startHealthMonitor({
      nc: w.nc,
      names: w.names,
      checkIntervalMs: INTERVAL_MS,
      thresholds: { offlineMs: OFFLINE_MS, failureMs: 60_000 },
      breaker: { share: 0.55, windowMs: 60_000 },
      autoEvacuateTasks: true,
      metrics: createMetrics({ defaultMetrics: false }),
      holder: 'standby',
    });
    await monitor.ready;
    // sb-1 is silent past the offline threshold; the standby sees it, says nothing (the other judge is idle here).
    await waitFor(() => monitor.state().proplets.get('sb-1')?.recorded === 'healthy', 'the standby to know sb-1');
    await new Promise((r) => setTimeout(r, OFFLINE_MS + INTERVAL_MS));
    expect(monitor.isJudging()).toBe(false);
    expect(await w.healthPath('sb-1')).toEqual(['healthy']);

    const releasedAt = Date.now();
    await other.release();
    const offline = await w.waitForHealth('sb-1', 'offline', 5_000);
    expect((offline.data as PropletHealthChangedData).fencingToken).toBe(monitor.token());
    expect(monitor.token()).toBeGreaterThan(0);
    // Taken over and judged at once (the lease is free after release), not one interval or threshold later.
    expect(Date.now() - releasedAt).toBeLessThan(INTERVAL_MS);
  });
});
