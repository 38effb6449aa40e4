import { waitFor } from '@propeller/eventstore/testing';
import type { PropletHealthChangedData, SiteEvacuationPausedData, SiteEvacuationResumedData } from '@propeller/events';
import { createMetrics, type Metrics } from '@propeller/telemetry';
import { alertSubject, startHealthMonitor, type BreakerTrippedAlert, type RunningHealthMonitor } from './monitor';
import { openHealthWorld, type HealthWorld } from './testing';

// The monitor in-process against real NATS, a real registry (Postgres) and the liveness KV written
// as the gateway writes it. Thresholds of a few seconds.
const INTERVAL_MS = 1_000;
const OFFLINE_MS = 1_500;
const FAILURE_MS = 3_000;
const WINDOW_MS = 2_000;
// Timer and command latency on a busy shared machine.
const SLACK_MS = 700;

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('health monitor (real NATS, registry, liveness KV)', () => {
  let w: HealthWorld;
  let monitor: RunningHealthMonitor;
  let metrics: Metrics;
  let stopGateway: () => void;

  beforeAll(async () => {
    w = await openHealthWorld();
    stopGateway = w.keepGatewayConnected();
    metrics = createMetrics({ defaultMetrics: false });
    monitor = await startHealthMonitor({
      nc: w.nc,
      names: w.names,
      checkIntervalMs: INTERVAL_MS,
      thresholds: { offlineMs: OFFLINE_MS, failureMs: FAILURE_MS },
      breaker: { share: 0.55, windowMs: WINDOW_MS },
      autoEvacuateTasks: true,
      metrics,
      holder: 'monitor-int',
    });
    await monitor.ready;
    await waitFor(() => monitor.isJudging(), 'the monitor to hold the health-judge lease', 10_000);
  }, 30_000);

  afterAll(async () => {
    stopGateway?.();
    await monitor?.stop();
    await w?.close();
  });

  it('judges a silent proplet offline, then failed, on time and with evidence, and healthy again on a heartbeat', async () => {
    await w.register('life-1', 'site-life');
    await w.beat('life-1');
    await w.waitForHealth('life-1', 'healthy');
    // No more heartbeats from here.
    const lastBeat = Date.now();
    await w.beat('life-1', new Date(lastBeat));

    const offline = await w.waitForHealth('life-1', 'offline');
    const off = offline.data as PropletHealthChangedData;
    expect(off).toMatchObject({ from: 'healthy', to: 'offline', fencingToken: monitor.token(), evidence: { source: 'silence', lastSeenAt: new Date(lastBeat).toISOString() } });
    expect(off.evidence.ageMs).toBeGreaterThanOrEqual(OFFLINE_MS);
    // Judged at the threshold (a deadline timer), not up to a whole interval later.
    expect(Date.parse(off.changedAt) - lastBeat).toBeLessThan(OFFLINE_MS + SLACK_MS);

    const failed = await w.waitForHealth('life-1', 'failed');
    const fail = failed.data as PropletHealthChangedData;
    expect(fail).toMatchObject({ from: 'offline', to: 'failed', evidence: { source: 'silence' } });
    expect(fail.evidence.ageMs).toBeGreaterThanOrEqual(FAILURE_MS);
    expect(Date.parse(fail.changedAt) - lastBeat).toBeLessThan(FAILURE_MS + SLACK_MS);

    await w.beat('life-1');
    const back = await w.waitForHealth('life-1', 'healthy');
    expect(back.data).toMatchObject({ from: 'failed', to: 'healthy', evidence: { source: 'heartbeat' } });
    expect(await w.healthPath('life-1')).toEqual(['healthy', 'offline', 'failed', 'healthy']);
    expect(await metrics.metricsText()).toContain('propeller_proplet_health_status{proplet="life-1",type="external",health="healthy"} 1');
  });

  it('keeps a registered proplet unknown until its first heartbeat', async () => {
    await w.register('quiet-1', 'site-quiet');
    await w.register('quiet-2', 'site-quiet');
    const stop = w.keepBeating(['quiet-2']);
    try {
      await w.waitForHealth('quiet-2', 'healthy');
      // The observation window of a negative: past the offline threshold, plus an interval, quiet-1 gets no verdict.
      await delay(OFFLINE_MS + INTERVAL_MS);
      expect(await w.healthPath('quiet-1')).toEqual([]);
      expect(await w.healthPath('quiet-2')).toEqual(['healthy']);
      await w.beat('quiet-1');
      expect((await w.waitForHealth('quiet-1', 'healthy')).data).toMatchObject({ from: 'unknown', to: 'healthy' });
    } finally {
      stop();
    }
  });

  it('makes a proplet offline within 1 s of its last-will', async () => {
    await w.register('will-1', 'site-will');
    const stop = w.keepBeating(['will-1']);
    await w.waitForHealth('will-1', 'healthy');
    stop();
    const willAt = Date.now();
    await w.will('will-1', new Date(willAt));
    const offline = await w.waitForHealth('will-1', 'offline', 5_000);
    const seenAfter = Date.now() - willAt;
    expect(offline.data).toMatchObject({ from: 'healthy', to: 'offline', reason: 'last-will received', evidence: { source: 'lastWill' } });
    expect(seenAfter).toBeLessThan(1_000);
  });

  it('fails nobody during a broker outage, and counts silence from when the broker came back', async () => {
    await w.register('outage-1', 'site-outage');
    await w.register('outage-2', 'site-outage');
    const stopBeats = w.keepBeating(['outage-1', 'outage-2']);
    await w.waitForHealth('outage-1', 'healthy');
    await w.waitForHealth('outage-2', 'healthy');

    // The broker goes away: the gateway says so and no heartbeat arrives any more.
    stopGateway();
    stopBeats();
    await w.gateway(false);
    await waitFor(() => !monitor.state().inputsHealthy, 'the judge to see the outage');
    // The observation window of a negative: past the failure threshold, plus an interval, nothing may be judged.
    await delay(FAILURE_MS + INTERVAL_MS);
    expect(await w.healthPath('outage-1')).toEqual(['healthy']);
    expect(await w.healthPath('outage-2')).toEqual(['healthy']);

    const backAt = Date.now();
    stopGateway = w.keepGatewayConnected();
    await waitFor(() => monitor.state().inputsHealthy, 'the judge to see the broker back');
    // outage-1 reconnects and beats; outage-2 stays silent and is judged from when the broker came back.
    const stop1 = w.keepBeating(['outage-1']);
    try {
      const offline = await w.waitForHealth('outage-2', 'offline');
      expect(Date.parse((offline.data as PropletHealthChangedData).changedAt) - backAt).toBeGreaterThanOrEqual(OFFLINE_MS - 50);
      expect(await w.healthPath('outage-1')).toEqual(['healthy']);
      expect(await w.healthPath('outage-2')).toEqual(['healthy', 'offline']);
    } finally {
      stop1();
    }
  });

  describe('site breaker', () => {
    const fleet = (site: string) => Array.from({ length: 10 }, (_, i) => `${site}-${i}`);

    async function tripSite(site: string): Promise<{ ids: string[]; survivors: () => void }> {
      const ids = fleet(site);
      await Promise.all(ids.map((id) => w.register(id, site)));
      const stopAll = w.keepBeating(ids);
      await Promise.all(ids.map((id) => w.waitForHealth(id, 'healthy')));
      stopAll();
      // 6 of 10 fall silent together; 4 keep beating.
      const survivors = w.keepBeating(ids.slice(6));
      return { ids, survivors };
    }

    it('pauses evacuation of a site when 6 of its 10 proplets fail together, before any failed verdict, with an alert and metrics', async () => {
      const alerts: BreakerTrippedAlert[] = [];
      const sub = w.nc.subscribe(alertSubject(w.names), {
        callback: (err, msg) => {
          if (!err) alerts.push(msg.json<BreakerTrippedAlert>());
        },
      });
      const { ids, survivors } = await tripSite('plant-b');
      try {
        await waitFor(() => w.seen().some((e) => e.type === 'SiteEvacuationPaused' && e.aggregateId === 'plant-b'), 'plant-b paused', 15_000);
        await Promise.all(ids.slice(0, 6).map((id) => w.waitForHealth(id, 'failed')));
        const paused = (await w.events('site', 'plant-b')).map((e) => ({ type: e.type, data: e.data, seq: e.seq }));
        expect(paused).toHaveLength(1);
        const data = paused[0]?.data as SiteEvacuationPausedData;
        expect(data).toMatchObject({ site: 'plant-b', threshold: 0.55, total: 10, fencingToken: monitor.token() });
        expect(data.offline + data.failed).toBe(6);
        expect(data.share).toBeCloseTo(0.6);
        // The pause is in the log before the first failed verdict of the site.
        const firstFailed = Math.min(...(await Promise.all(ids.map((id) => w.events('proplet', id)))).flat().filter((e) => e.type === 'PropletHealthChanged' && (e.data as PropletHealthChangedData).to === 'failed').map((e) => e.seq));
        expect(paused[0]?.seq).toBeLessThan(firstFailed);
        // The survivors were never judged down.
        for (const id of ids.slice(6)) expect(await w.healthPath(id)).toEqual(['healthy']);

        // Other tests' single-proplet sites trip too when their proplet fails; this one is plant-b's.
        await waitFor(() => alerts.some((a) => a.site === 'plant-b'), 'the breaker alert');
        expect(alerts.find((a) => a.site === 'plant-b')).toMatchObject({ alert: 'SiteEvacuationPaused', site: 'plant-b', total: 10, threshold: 0.55 });
        const text = await metrics.metricsText();
        expect(text).toContain('propeller_health_breaker_trips_total{site="plant-b"} 1');
        expect(text).toContain('propeller_site_evacuation_paused{site="plant-b"} 1');

        // An operator resumes it (the API / CLI send this command).
        await w.send('site.resumeEvacuation', { site: 'plant-b', by: 'operator' });
        await waitFor(async () => (await metrics.metricsText()).includes('propeller_site_evacuation_paused{site="plant-b"} 0'), 'the paused metric to clear');
        expect((await w.events('site', 'plant-b')).map((e) => [e.type, (e.data as { by?: string }).by])).toEqual([
          ['SiteEvacuationPaused', undefined],
          ['SiteEvacuationResumed', 'operator'],
        ]);
      } finally {
        survivors();
        sub.unsubscribe();
      }
    }, 30_000);

    it('resumes a paused site by itself once its share has stayed below the threshold for the window', async () => {
      const { ids, survivors } = await tripSite('plant-c');
      try {
        await waitFor(() => w.seen().some((e) => e.type === 'SiteEvacuationPaused' && e.aggregateId === 'plant-c'), 'plant-c paused', 15_000);
        // The six come back.
        const back = w.keepBeating(ids.slice(0, 6));
        try {
          await Promise.all(ids.slice(0, 6).map((id) => w.waitForHealth(id, 'healthy')));
          const allHealthyAt = Date.now();
          await waitFor(() => w.seen().some((e) => e.type === 'SiteEvacuationResumed' && e.aggregateId === 'plant-c'), 'plant-c resumed', 10_000);
          const resumed = (await w.events('site', 'plant-c'))[1];
          expect(resumed?.data).toMatchObject({ site: 'plant-c', by: 'breakerWindow', share: 0 });
          expect(Date.parse((resumed?.data as SiteEvacuationResumedData).resumedAt) - allHealthyAt).toBeGreaterThanOrEqual(WINDOW_MS - SLACK_MS);
        } finally {
          back();
        }
      } finally {
        survivors();
      }
    }, 30_000);
  });
});
