import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { CommandDataInput, NatsNames } from '@propeller/events';
import { provision, sendCommand, type CommandOk } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { waitForSequence } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
// The real registry, started in-process on the test's prefix and schema (the brief's "real registry"
// requirement); an app importing an app is allowed here only, in test wiring.
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { PROPLETS_PROJECTION, startRegistry, type RunningRegistry } from '@propeller/registry';
import { buildApi, type Api, type BuildApiOptions } from '../app';

/** One test file's world: its own NATS prefix and Postgres schema, the real registry, and the API on port 0. */
export interface ApiWorld {
  nc: NatsConnection;
  names: NatsNames;
  db: Kysely<ReadModelTables>;
  registry: RunningRegistry;
  api: Api;
  /** `http://127.0.0.1:<port>` of the API. */
  base: string;
  /** Registers a proplet as the gateway would, and waits until the read model shows it. */
  register(data: CommandDataInput<'proplet.register'>): Promise<CommandOk>;
  /** `fetch` on the API with a JSON body; returns the status, headers and parsed body (text when not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests assert response bodies by shape
  http(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
}

/** A quiet logger for tests (errors only). */
export const testLogger = () => pino({ level: process.env['LOG_LEVEL'] ?? 'error' });

/** Provisions a fresh prefix and schema, starts the registry (waits for its projection) and the API on port 0. */
export async function openApiWorld(over: Partial<BuildApiOptions> = {}): Promise<ApiWorld> {
  const nc = await connectTest('api-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: 1500 });
  const t = testDb<ReadModelTables>({ poolMax: 3 });
  const registry = await startRegistry({ nc, names, db: t.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
  await waitFor(() => registry.runner.state(PROPLETS_PROJECTION).state === 'running', 'the proplets projection to run');
  const api = buildApi({ db: t.db, nc, names, config: { api: { readYourWritesTimeout: 2000 } }, logger: testLogger(), ...over });
  const port = await api.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return {
    nc,
    names,
    db: t.db,
    registry,
    api,
    base,
    async register(data) {
      const reply = await sendCommand(nc, names, 'proplet', 'register', { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data });
      if (!(await waitForSequence(t.db, PROPLETS_PROJECTION, reply.lastSequence, 10_000))) throw new Error(`proplet ${data.propletId} not projected`);
      return reply;
    },
    async http(method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // Not JSON (e.g. /metrics): keep the text.
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      await api.close().catch(() => undefined);
      await registry.stop().catch(() => undefined);
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
    },
  };
}

/** A registration as the gateway sends it; every field can be overridden. */
export function registration(id: string, over: Partial<CommandDataInput<'proplet.register'>> = {}): CommandDataInput<'proplet.register'> {
  return {
    propletId: id,
    type: 'external',
    deviceType: 'esp32',
    capabilities: ['wasm', 'sensor'],
    labels: {},
    capacity: {},
    dialect: 'wamr',
    channel: { domainId: 'propeller', channelId: `ch-${id}`, layout: 'messages', perPropletTopics: true },
    metadata: {},
    ...over,
  };
}
