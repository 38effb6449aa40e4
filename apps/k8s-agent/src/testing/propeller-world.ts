import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { LEASE_NAMES, type NatsNames, type PropletHealth, type StoredEnvelope } from '@propeller/events';
import { EventStore, Lease, provision, sendCommand } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { testDb } from '@propeller/projections/testing';
import type { ReadModelTables, TasksTables } from '@propeller/read-models';
// The real registry and scheduler are the receivers of the port's commands; tests run them in-process,
// so this test helper (never production code) depends on other apps.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRegistry, type RunningRegistry } from '@propeller/registry';
// The real scheduler, in-process (test wiring: an app imports an app).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startScheduler, type RunningScheduler } from '@propeller/scheduler';

/** Lease TTL of test prefixes: short, so a handover takes little time. */
export const TEST_LEASE_TTL_MS = 1_500;

/**
 * One integration test file's Propeller: its own NATS prefix and Postgres schema, with the real
 * registry and scheduler running in-process on them. The test plays the health judge (it holds the
 * `health-judge` lease and sends fenced `proplet.changeHealth` verdicts to the registry) and, where it
 * needs to, the gateway (`task.recordStarted`, `task.recordResult`).
 */
export interface PropellerWorld {
  nc: NatsConnection;
  names: NatsNames;
  /** The registry's read-model schema (`proplets`). */
  db: Kysely<ReadModelTables>;
  store: EventStore;
  registry: RunningRegistry;
  scheduler: RunningScheduler;
  /** The judge's verdict on a proplet, through the registry (fenced by the health-judge lease). */
  judge(propletId: string, to: Exclude<PropletHealth, 'deregistered'>): Promise<void>;
  /** Sends a command as a client would (the gateway, for `task.recordStarted` / `task.recordResult`). */
  send(name: 'task.recordStarted' | 'task.recordResult', data: Record<string, unknown>): Promise<void>;
  /** Every stored event of one aggregate instance, in order. */
  events(aggregate: 'proplet' | 'task', id: string): Promise<StoredEnvelope[]>;
  close(): Promise<void>;
}

/** Provisions a fresh prefix and schema and starts the registry and the scheduler (placement loop active). */
export async function openPropellerWorld(): Promise<PropellerWorld> {
  const nc = await connectTest('k8s-agent-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: TEST_LEASE_TTL_MS });
  // One schema per service: `migrate` keeps one migration table per schema and each service passes
  // only its own migrations, so the registry and the scheduler cannot share one (kysely reports the
  // other's migrations as missing).
  const t = testDb<ReadModelTables>({ poolMax: 2 });
  const ts = testDb<TasksTables>({ poolMax: 2 });
  const registry = await startRegistry({ nc, names, db: t.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
  const scheduler = await startScheduler({ nc, names, db: ts.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
  await waitFor(() => scheduler.loop.isActive(), 'the placement loop to be active');
  const judgeLease = (await Lease.open(nc, names, LEASE_NAMES.healthJudge, { holder: 'test-judge' })).start();
  const store = new EventStore(nc, names);
  return {
    nc,
    names,
    db: t.db,
    store,
    registry,
    scheduler,
    async judge(propletId, to) {
      const fencingToken = await judgeLease.waitUntilHeld(5_000);
      await sendCommand(nc, names, 'proplet', 'changeHealth', {
        meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString(), fencingToken },
        data: { propletId, to, reason: `the test judges it ${to}`, evidence: { source: 'heartbeat', lastSeenAt: new Date().toISOString() } },
      });
    },
    async send(name, data) {
      const [aggregate, command] = name.split('.') as [string, string];
      await sendCommand(nc, names, aggregate, command, { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data });
    },
    async events(aggregate, id) {
      return (await store.load(aggregate, id)).events;
    },
    async close() {
      await judgeLease.release().catch(() => undefined);
      await scheduler.stop().catch(() => undefined);
      await registry.stop().catch(() => undefined);
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
      await ts.drop();
    },
  };
}
