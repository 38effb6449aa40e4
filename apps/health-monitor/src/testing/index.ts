import { randomUUID } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  gatewayLivenessKey,
  livenessKey,
  SITE_LABEL,
  type CommandDataInput,
  type CommandName,
  type GatewayLiveness,
  type NatsNames,
  type PropletHealth,
  type PropletLiveness,
  type StoredEnvelope,
  type StoredEventEnvelope,
  parseStoredEvent,
} from '@propeller/events';
import { EventStore, provision, sendCommand, type CommandOk } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { testDb } from '@propeller/projections/testing';
import type { ReadModelTables } from '@propeller/read-models';
// The registry is the real receiver of the judge's commands (it checks the fencing token); tests run it
// in-process, so this test helper (never production code) depends on another app.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startRegistry, type RunningRegistry } from '@propeller/registry';
import { Registry } from 'prom-client';

/** Test helpers for the health monitor (`@propeller/health-monitor/testing`); never imported by production code. */

/** Lease TTL of test prefixes: short, so a judge handover takes little time. */
export const TEST_LEASE_TTL_MS = 1_500;

/** One test file's world: its own NATS prefix and Postgres schema, a real registry, and the liveness KV written as the gateway would. */
export interface HealthWorld {
  nc: NatsConnection;
  names: NatsNames;
  liveness: KV;
  registry: RunningRegistry;
  /** Registers a proplet (external, optionally in `site`). */
  register(propletId: string, site?: string): Promise<CommandOk>;
  /** Writes a heartbeat (`alive`, source `heartbeat`) at `at` (default now). */
  beat(propletId: string, at?: Date): Promise<void>;
  /** Writes a last-will (`offline`, source `lastWill`). */
  will(propletId: string, at?: Date): Promise<void>;
  /** Writes a gateway replica's broker connection key. */
  gateway(connected: boolean, replica?: string): Promise<void>;
  /** Writes heartbeats for `propletIds` every 300 ms until the returned stop. */
  keepBeating(propletIds: readonly string[]): () => void;
  /** Keeps the gateway key fresh (`connected: true`) every 500 ms, as a connected gateway does, until the returned stop. */
  keepGatewayConnected(replica?: string): () => void;
  /** Sends a command as a client would. */
  send<N extends CommandName>(name: N, data: CommandDataInput<N>, meta?: { fencingToken?: number }): Promise<CommandOk>;
  /** Every event appended since the world opened (seq 0: seen live, not read from the stream). */
  seen(): StoredEventEnvelope[];
  /** Every stored event of one aggregate instance. */
  events(aggregate: 'proplet' | 'site' | 'task', id: string): Promise<StoredEventEnvelope[]>;
  /** The `to` of every `PropletHealthChanged` of a proplet, in order. */
  healthPath(propletId: string): Promise<PropletHealth[]>;
  /** Waits until the proplet's last recorded health is `to`; resolves with that event. */
  waitForHealth(propletId: string, to: PropletHealth, timeoutMs?: number): Promise<StoredEventEnvelope>;
  close(): Promise<void>;
}

/** Provisions a fresh prefix (lease TTL 1.5 s) and schema, and starts a registry on them. */
export async function openHealthWorld(): Promise<HealthWorld> {
  const nc = await connectTest('health-monitor-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: TEST_LEASE_TTL_MS });
  const t = testDb<ReadModelTables>({ poolMax: 2 });
  const registry = await startRegistry({ nc, names, db: t.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
  const liveness = await new Kvm(nc).open(names.kv.liveness);
  const store = new EventStore(nc, names);
  const timers = new Set<NodeJS.Timeout>();
  // When each gateway replica's current connection began; a reconnection after `connected: false` starts a new one.
  const since = new Map<string, string>();

  const putProplet = async (id: string, l: PropletLiveness): Promise<void> => {
    await liveness.put(livenessKey(id), JSON.stringify(l));
  };
  const gateway = async (connected: boolean, replica = 'gw-test'): Promise<void> => {
    const now = new Date().toISOString();
    if (!connected) since.delete(replica);
    else if (!since.has(replica)) since.set(replica, now);
    const g: GatewayLiveness = { connected, at: now, broker: 'mqtt://127.0.0.1:1883', ...(connected ? { connectedSince: since.get(replica) } : {}) };
    await liveness.put(gatewayLivenessKey(replica), JSON.stringify(g));
  };
  const send: HealthWorld['send'] = (name, data, meta = {}) => {
    const [aggregate, command] = name.split('.') as [string, string];
    return sendCommand(nc, names, aggregate, command, {
      meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString(), ...(meta.fencingToken === undefined ? {} : { fencingToken: meta.fencingToken }) },
      data,
    });
  };
  const events: HealthWorld['events'] = async (aggregate, id) => (await store.load(aggregate, id)).events.map((e) => parseStoredEvent(e));
  // Every event as it is appended (a core subscription on the stream's subjects), so waiting costs no consumer per poll.
  const seen: StoredEventEnvelope[] = [];
  const tap = nc.subscribe(names.streamSubjects, {
    callback: (err, msg) => {
      if (!err) seen.push(parseStoredEvent({ ...msg.json<StoredEnvelope>(), seq: 0 }));
    },
  });
  await nc.flush();
  const healthChanges = async (id: string) => seen.filter((e) => e.aggregate === 'proplet' && e.aggregateId === id && e.type === 'PropletHealthChanged');

  return {
    nc,
    names,
    liveness,
    registry,
    register: (propletId, site) =>
      send('proplet.register', {
        propletId,
        type: 'external',
        deviceType: 'esp32-s3',
        capabilities: ['wasm'],
        labels: site === undefined ? {} : { [SITE_LABEL]: site },
        dialect: 'wamr',
        channel: { domainId: 'propeller', channelId: `ch-${propletId}`, layout: 'direct', perPropletTopics: true },
      }),
    beat: (id, at = new Date()) => putProplet(id, { status: 'alive', at: at.toISOString(), source: 'heartbeat', writer: 'gw-test' }),
    will: (id, at = new Date()) => putProplet(id, { status: 'offline', at: at.toISOString(), source: 'lastWill', writer: 'gw-test' }),
    gateway,
    keepBeating(ids) {
      const beatAll = () => Promise.all(ids.map((id) => putProplet(id, { status: 'alive', at: new Date().toISOString(), source: 'heartbeat', writer: 'gw-test' }))).catch(() => undefined);
      void beatAll();
      const timer = setInterval(() => void beatAll(), 300);
      timers.add(timer);
      return () => {
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    keepGatewayConnected(replica) {
      void gateway(true, replica);
      const timer = setInterval(() => void gateway(true, replica).catch(() => undefined), 500);
      timers.add(timer);
      return () => {
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    send,
    seen: () => seen,
    events,
    async healthPath(id) {
      return (await healthChanges(id)).map((e) => (e.data as { to: PropletHealth }).to);
    },
    async waitForHealth(id, to, timeoutMs = 10_000) {
      let found: StoredEventEnvelope | undefined;
      await waitFor(
        async () => {
          const changes = await healthChanges(id);
          const last = changes[changes.length - 1];
          found = last !== undefined && (last.data as { to: PropletHealth }).to === to ? last : undefined;
          return found !== undefined;
        },
        `proplet ${id} to be ${to}`,
        timeoutMs,
      );
      return found as StoredEventEnvelope;
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      tap.unsubscribe();
      await registry.stop().catch(() => undefined);
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
    },
  };
}
