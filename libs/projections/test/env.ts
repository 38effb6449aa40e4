/* eslint-disable @typescript-eslint/no-explicit-any -- projections of any read model */
import type { Kysely } from 'kysely';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { NatsNames } from '@propeller/events';
import { migrate, ProjectionRunner, type Projection, type ProjectionRunnerOptions } from '../src';
import { testDb } from '../src/testing';
import { ledgerMigrations, type LedgerDB } from './ledger';
import { provision } from '@propeller/eventstore';
import { cleanup, connectTest, testNames } from '@propeller/eventstore/testing';

/** One test file's world: its own NATS prefix (provisioned; leases TTL 1.5 s) and its own Postgres schema with the ledger tables. */
export interface TestEnv {
  nc: NatsConnection;
  names: NatsNames;
  db: Kysely<LedgerDB>;
  schema: string;
  runners: ProjectionRunner[];
  /** A runner with a fresh metrics registry, stopped in `close()`. */
  runner(projections: Array<Projection<any>>, extra?: Partial<ProjectionRunnerOptions>): { runner: ProjectionRunner; registry: Registry };
  close(): Promise<void>;
}

export const LEASE_TTL_MS = 1500;

export async function openEnv(): Promise<TestEnv> {
  const nc = await connectTest('projections-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: LEASE_TTL_MS });
  const t = testDb<LedgerDB>({ poolMax: 3 });
  await migrate(t.db, { migrations: ledgerMigrations });
  const runners: ProjectionRunner[] = [];
  return {
    nc,
    names,
    db: t.db,
    schema: t.schema,
    runners,
    runner(projections, extra = {}) {
      const registry = new Registry();
      const runner = new ProjectionRunner({
        nc,
        names,
        db: t.db,
        projections,
        registry,
        standbyPollMs: 200,
        retryMs: 200,
        ...extra,
      });
      runners.push(runner);
      return { runner, registry };
    },
    async close() {
      await Promise.allSettled(runners.map((r) => r.stop()));
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
    },
  };
}

/** Waits for `cond` to hold, checking every 50 ms; fails with `what` after `timeoutMs`. */
export async function eventually(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function balances(db: Kysely<LedgerDB>): Promise<Record<string, { balance: number; entries: number }>> {
  const rows = await db.selectFrom('ledger_balances').selectAll().orderBy('account').execute();
  return Object.fromEntries(rows.map((r) => [r.account, { balance: Number(r.balance), entries: r.entries }]));
}
