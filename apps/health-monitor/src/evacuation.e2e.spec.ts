import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StoredEventEnvelope } from '@propeller/events';
import { waitFor } from '@propeller/eventstore/testing';
import { wireIdFor } from '@propeller/mqtt-protocol';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import { bundleService, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
import { createMetrics } from '@propeller/telemetry';
import { startHealthMonitor, type RunningHealthMonitor } from './monitor';
import { openHealthWorld, TEST_LEASE_TTL_MS, type HealthWorld } from './testing';

// Evacuation end to end: the monitor (in-process) judges a silent proplet failed, the real scheduler
// process moves its running tasks off it, and they complete on the surviving proplet. The proplets'
// side (task_started, results) is sent as the commands the gateway turns device messages into.
const SCHEDULER_MAIN = resolve(__dirname, '../../scheduler/src/main.ts');

describe('evacuation of a failed proplet (monitor + registry + scheduler process)', () => {
  let dir: string;
  let w: HealthWorld;
  let monitor: RunningHealthMonitor;
  let scheduler: SpawnedService | undefined;
  const tasksDb = testDb({ poolMax: 1 });
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-evacuation-e2e-'));
    w = await openHealthWorld();
    stops.push(w.keepGatewayConnected());
    monitor = await startHealthMonitor({
      nc: w.nc,
      names: w.names,
      checkIntervalMs: 1_000,
      thresholds: { offlineMs: 1_500, failureMs: 3_000 },
      breaker: { share: 0.55, windowMs: 60_000 },
      autoEvacuateTasks: true,
      metrics: createMetrics({ defaultMetrics: false }),
    });
    await monitor.ready;
  });

  afterAll(async () => {
    for (const stop of stops) stop();
    if (scheduler) await scheduler.stop('SIGKILL').catch(() => undefined);
    await monitor?.stop();
    await w?.close();
    await tasksDb.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const taskEvents = async (id: string): Promise<StoredEventEnvelope[]> => w.events('task', id);
  const scheduledOn = async (id: string, attempt: number): Promise<string | undefined> => {
    const e = (await taskEvents(id)).find((x) => x.type === 'TaskScheduled' && (x.data as { attempt: number }).attempt === attempt);
    return (e?.data as { propletId?: string } | undefined)?.propletId;
  };

  it('moves the running tasks of a failed proplet to a healthy one, where they complete', async () => {
    const bundle = bundleService(SCHEDULER_MAIN, join(dir, 'scheduler.cjs'));
    scheduler = spawnNode(bundle, {
      cwd: dir,
      env: {
        METRICS_PORT: '0',
        PROPELLER_NATS_PREFIX: w.names.prefix,
        PROPELLER_NATS_LEASE_TTL: `${TEST_LEASE_TTL_MS}ms`,
        DATABASE_URL: TEST_DATABASE_URL,
        PROPELLER_DATABASE_SCHEMA: tasksDb.schema,
        DATABASE_POOL_MAX: '2',
      },
    });
    await waitUntilServing(scheduler, 20_000);

    // Only doomed-1 is healthy at first, so every task is placed there.
    await w.register('doomed-1', 'site-evac');
    await w.register('survivor-1', 'site-evac');
    await w.register('bystander-1', 'site-evac');
    await w.register('bystander-2', 'site-evac');
    const doomedBeats = w.keepBeating(['doomed-1']);
    stops.push(doomedBeats);
    await w.waitForHealth('doomed-1', 'healthy');

    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const taskId of ids) {
      await w.send('task.create', { taskId, name: 'add', imageUrl: 'registry.example/add:1' });
      await w.send('task.start', { taskId });
    }
    await waitFor(async () => (await Promise.all(ids.map((id) => scheduledOn(id, 1)))).every((p) => p === 'doomed-1'), 'every task scheduled on doomed-1', 15_000);
    // doomed-1 starts them (as the gateway reports task_started).
    for (const taskId of ids) await w.send('task.recordStarted', { taskId, wireId: wireIdFor(taskId, 1), propletId: 'doomed-1', attempt: 1 });
    await waitFor(async () => (await Promise.all(ids.map(taskEvents))).every((es) => es.some((e) => e.type === 'TaskRunning')), 'every task running');

    // The rest of the site is up (so the breaker stays closed: 1 of 4 down), then doomed-1 falls silent.
    stops.push(w.keepBeating(['survivor-1', 'bystander-1', 'bystander-2']));
    await w.waitForHealth('survivor-1', 'healthy');
    doomedBeats();
    const failed = await w.waitForHealth('doomed-1', 'failed', 15_000);
    const failedAt = Date.parse((failed.data as { changedAt: string }).changedAt);

    await waitFor(async () => (await Promise.all(ids.map((id) => scheduledOn(id, 2)))).every((p) => p !== undefined), 'every task scheduled again', 15_000);
    const newHomes = await Promise.all(ids.map((id) => scheduledOn(id, 2)));
    expect(newHomes.every((p) => p !== 'doomed-1' && p !== undefined)).toBe(true);
    for (const taskId of ids) {
      const evacuated = (await taskEvents(taskId)).find((e) => e.type === 'TaskEvacuated');
      expect(evacuated?.data).toMatchObject({ fromPropletId: 'doomed-1' });
    }
    const rescheduledAt = Math.max(...(await Promise.all(ids.map(taskEvents))).map((es) => Date.parse(es.find((e) => e.type === 'TaskScheduled' && (e.data as { attempt: number }).attempt === 2)?.occurredAt ?? 'x')));
    expect(rescheduledAt - failedAt).toBeLessThan(5_000);
    expect(w.seen().some((e) => e.type === 'SiteEvacuationPaused')).toBe(false);

    // A late result of the old attempt (doomed-1 was only cut off) is discarded, not taken as the task's result.
    const first = ids[0] as string;
    await w.send('task.recordResult', { taskId: first, wireId: wireIdFor(first, 1), propletId: 'doomed-1', results: 'late' });
    await waitFor(async () => (await taskEvents(first)).some((e) => e.type === 'TaskResultDiscarded'), 'the late result discarded');

    // The new homes run them to completion.
    for (const [i, taskId] of ids.entries()) {
      const propletId = newHomes[i] as string;
      await w.send('task.recordStarted', { taskId, wireId: wireIdFor(taskId, 2), propletId, attempt: 2 });
      await w.send('task.recordResult', { taskId, wireId: wireIdFor(taskId, 2), propletId, results: '3' });
    }
    await waitFor(async () => (await Promise.all(ids.map(taskEvents))).every((es) => es.some((e) => e.type === 'TaskCompleted')), 'every task completed on its new proplet', 15_000);
    const completed = (await taskEvents(first)).find((e) => e.type === 'TaskCompleted');
    expect(JSON.stringify(completed?.data)).toContain('"3"');
    expect(JSON.stringify(completed?.data)).not.toContain('late');
  }, 90_000);
});
