import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import type { CommandDataInput, CommandName, NatsNames } from '@propeller/events';
import { provision, sendCommand, type CommandOk } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { waitForSequence } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
import type { Kysely } from 'kysely';
import { PROPLETS_PROJECTION } from '../read-model/projection';
import { startRegistry, type RunningRegistry } from '../service';

/** Lease TTL of test prefixes: short, so a judge handover takes little time. */
export const TEST_LEASE_TTL_MS = 1500;

/** One integration test file's world: its own NATS prefix and Postgres schema, and a registry running on them. */
export interface RegistryWorld {
  nc: NatsConnection;
  names: NatsNames;
  db: Kysely<ReadModelTables>;
  registry: RunningRegistry;
  /** Starts another registry replica on the same prefix and schema (stopped by `close`). */
  replica(): Promise<RunningRegistry>;
  /** Sends a command as a client would; `meta` defaults to a fresh correlation id and now. */
  send<N extends CommandName>(name: N, data: CommandDataInput<N>, meta?: { fencingToken?: number; issuedAt?: string }, nc?: NatsConnection): Promise<CommandOk>;
  /** Sends a proplet command and waits until the `proplets` read model has applied its reply's sequence. */
  sendAndSettle<N extends CommandName>(name: N, data: CommandDataInput<N>, meta?: { fencingToken?: number; issuedAt?: string }): Promise<CommandOk>;
  close(): Promise<void>;
}

/** Provisions a fresh prefix (lease TTL 1.5 s), a fresh schema, and starts a registry on them; waits for its projection to run. */
export async function openWorld(): Promise<RegistryWorld> {
  const nc = await connectTest('registry-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: TEST_LEASE_TTL_MS });
  const t = testDb<ReadModelTables>({ poolMax: 3 });
  const started: RunningRegistry[] = [];
  const start = async (): Promise<RunningRegistry> => {
    const r = await startRegistry({ nc, names, db: t.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
    started.push(r);
    return r;
  };
  const registry = await start();
  await waitFor(() => registry.runner.state(PROPLETS_PROJECTION).state === 'running', 'the proplets projection to run');

  const send: RegistryWorld['send'] = (name, data, meta = {}, client = nc) => {
    const [aggregate, command] = name.split('.') as [string, string];
    return sendCommand(client, names, aggregate, command, {
      meta: { correlationId: randomUUID(), issuedAt: meta.issuedAt ?? new Date().toISOString(), ...(meta.fencingToken === undefined ? {} : { fencingToken: meta.fencingToken }) },
      data,
    });
  };
  return {
    nc,
    names,
    db: t.db,
    registry,
    replica: start,
    send,
    async sendAndSettle(name, data, meta) {
      const reply = await send(name, data, meta);
      if (!(await waitForSequence(t.db, PROPLETS_PROJECTION, reply.lastSequence, 10_000))) {
        throw new Error(`the proplets read model did not reach sequence ${reply.lastSequence}`);
      }
      return reply;
    },
    async close() {
      await Promise.allSettled(started.map((r) => r.stop()));
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
    },
  };
}
