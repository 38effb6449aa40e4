import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { waitForSequence } from '@propeller/projections';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import { getPropletOrThrow, type ReadModelTables } from '@propeller/read-models';
import { bundleService, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';

// The registry as a process: provisions its prefix, migrates its schema, serves commands, projects,
// reports /health and /metrics, and stops cleanly on SIGTERM.

describe('registry process', () => {
  let dir: string;
  let nc: NatsConnection;
  const names = testNames();
  const t = testDb<ReadModelTables>({ poolMax: 1 });
  let service: SpawnedService | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-registry-e2e-'));
    nc = await connectTest('registry-e2e');
  });

  afterAll(async () => {
    if (service) await service.stop('SIGKILL').catch(() => undefined);
    await cleanup(nc, names);
    await nc.close();
    await t.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a registration into the read model, reports healthy, and exits 0 on SIGTERM', async () => {
    const bundle = bundleService(resolve(__dirname, 'main.ts'), join(dir, 'registry.cjs'));
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

    const reply = await sendCommand(nc, names, 'proplet', 'register', {
      meta: { correlationId: randomUUID(), issuedAt: '2026-11-27T13:00:00.000Z' },
      data: {
        propletId: 'rpi-e2e',
        type: 'external',
        deviceType: 'rpi',
        capabilities: ['wasm'],
        dialect: 'wasmtime',
        channel: { domainId: 'propeller', channelId: 'control', layout: 'messages', perPropletTopics: false },
      },
    });
    expect(await waitForSequence(t.db, 'proplets', reply.lastSequence, 10_000)).toBe(true);
    expect(await getPropletOrThrow(t.db, 'rpi-e2e')).toMatchObject({ deviceType: 'rpi', health: 'unknown' });

    let health: { status: string; checks: Record<string, { status: string }> } | undefined;
    await waitFor(async () => {
      const res = await fetch(`${base}/health`);
      health = (await res.json()) as typeof health;
      return res.status === 200;
    }, '/health to pass');
    expect(health?.checks).toMatchObject({ nats: { status: 'pass' }, postgres: { status: 'pass' }, projections: { status: 'pass' } });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/propeller_registry_commands_total\{[^}]*command="proplet.register"[^}]*outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/propeller_projection_stalled\{[^}]*projection="proplets"[^}]*\} 0/);

    const exit = await service.stop('SIGTERM', 15_000);
    service = undefined;
    expect(exit.code).toBe(0);
  });
});
