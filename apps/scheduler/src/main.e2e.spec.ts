import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { makeEnvelope, type PropletEvent } from '@propeller/events';
import { EventStore, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import { getTask, type TasksTables } from '@propeller/read-models';
import { bundleService, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
import { ADD_WASM } from './testing/world';

// The scheduler as a process: provisions its prefix, migrates its schema, serves task commands,
// places, projects, reports /health and /metrics (with propeller_task_duration_seconds), and stops
// cleanly on SIGTERM. The proplet is appended as events under the test prefix (no registry).

describe('scheduler process', () => {
  let dir: string;
  let nc: NatsConnection;
  const names = testNames();
  const t = testDb<TasksTables>({ poolMax: 1 });
  let service: SpawnedService | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-scheduler-e2e-'));
    nc = await connectTest('scheduler-e2e');
  });

  afterAll(async () => {
    if (service) await service.stop('SIGKILL').catch(() => undefined);
    await cleanup(nc, names);
    await nc.close();
    await t.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (name: string, data: Record<string, unknown>) =>
    sendCommand(nc, names, 'task', name, { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data }, { timeoutMs: 10_000 });

  it('runs a task from create to completed, reports healthy with the duration histogram, and exits 0 on SIGTERM', async () => {
    const bundle = bundleService(resolve(__dirname, 'main.ts'), join(dir, 'scheduler.cjs'));
    service = spawnNode(bundle, {
      cwd: dir,
      env: {
        METRICS_PORT: '0',
        PROPELLER_NATS_PREFIX: names.prefix,
        PROPELLER_NATS_LEASE_TTL: '2s',
        DATABASE_URL: TEST_DATABASE_URL,
        PROPELLER_DATABASE_SCHEMA: t.schema,
        DATABASE_POOL_MAX: '2',
      },
    });
    const base = await waitUntilServing(service, 20_000);

    const store = new EventStore(nc, names);
    const at = new Date().toISOString();
    const events: PropletEvent[] = [
      {
        type: 'PropletRegistered',
        data: {
          type: 'k8s',
          deviceType: 'linux',
          capabilities: ['wasm'],
          labels: {},
          capacity: {},
          dialect: 'wasmtime',
          channel: { domainId: 'propeller', channelId: 'control', layout: 'messages', perPropletTopics: true },
          metadata: {},
          registeredAt: at,
        },
      },
      { type: 'PropletHealthChanged', data: { from: 'unknown', to: 'healthy', reason: 'heartbeat', evidence: { source: 'heartbeat' }, fencingToken: 1, changedAt: at } },
    ];
    await store.append(
      'proplet',
      'pod-1',
      events.map((event) => makeEnvelope({ event, aggregate: 'proplet', aggregateId: 'pod-1', meta: { correlationId: randomUUID() }, id: randomUUID(), occurredAt: at })),
      0,
    );

    const id = randomUUID();
    await send('create', { taskId: id, name: 'add', file: ADD_WASM, inputs: ['1', '2'] });
    await send('start', { taskId: id });
    await waitFor(async () => (await getTask(t.db, id))?.status === 'scheduled', 'the task to be scheduled on pod-1', 15_000);
    await send('recordResult', { taskId: id, wireId: id, propletId: 'pod-1', results: '3' });
    await waitFor(async () => (await getTask(t.db, id))?.status === 'completed', 'the task to complete', 15_000);

    let health: { checks: Record<string, { status: string }> } | undefined;
    await waitFor(async () => {
      const res = await fetch(`${base}/health`);
      health = (await res.json()) as typeof health;
      return res.status === 200;
    }, '/health to pass');
    expect(health?.checks).toMatchObject({ nats: { status: 'pass' }, postgres: { status: 'pass' }, projections: { status: 'pass' } });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/propeller_task_duration_seconds_count\{[^}]*status="completed"[^}]*\} 1/);
    expect(metrics).toMatch(/propeller_scheduler_commands_total\{[^}]*command="task.schedule"[^}]*outcome="ok"[^}]*\} 1/);
    // The four task events it appended, read back from memory by the placement loop and the projection; the two
    // proplet events this test appended, decoded by the loop.
    expect(metrics).toMatch(/propeller_scheduler_recent_events\{outcome="hit"[^}]*\} 8\n/);
    expect(metrics).toMatch(/propeller_scheduler_recent_events\{outcome="miss"[^}]*\} 2\n/);

    const exit = await service.stop('SIGTERM', 15_000);
    service = undefined;
    expect(exit.code).toBe(0);
  });
});
