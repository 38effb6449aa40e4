import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { Registry } from 'prom-client';
import {
  makeEnvelope,
  type CommandDataInput,
  type CommandName,
  type NatsNames,
  type PropletEvent,
  type PropletRegisteredData,
  type SiteEvent,
  type StoredEnvelope,
} from '@propeller/events';
import { EventStore, provision, sendCommand, type CommandOk } from '@propeller/eventstore';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { waitForSequence } from '@propeller/projections';
import { testDb } from '@propeller/projections/testing';
import { getTask, type TaskView, type TasksTables } from '@propeller/read-models';
import { TASKS_PROJECTION } from '../read-model/projection';
import { startScheduler, type RunningScheduler, type StartSchedulerOptions } from '../service';

/** Lease TTL of test prefixes: short, so a handover takes little time. */
export const TEST_LEASE_TTL_MS = 1500;

/** PROTOCOL.md "Examples": a core module exporting add(i32, i32) -> i32 (41 bytes). */
export const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

/** One integration test file's world: its own NATS prefix and Postgres schema, and a scheduler on them. */
export interface SchedulerWorld {
  nc: NatsConnection;
  names: NatsNames;
  db: Kysely<TasksTables>;
  store: EventStore;
  scheduler: RunningScheduler;
  /** Sends a command as a client would; `meta` defaults to a fresh correlation id and now. */
  send<N extends CommandName>(name: N, data: CommandDataInput<N> | Record<string, unknown>, meta?: { fencingToken?: number }): Promise<CommandOk>;
  /** Sends a task command and waits until the `tasks` read model has applied its reply's sequence. */
  sendAndSettle<N extends CommandName>(name: N, data: CommandDataInput<N> | Record<string, unknown>): Promise<CommandOk>;
  /**
   * Appends proplet events directly to the log under this prefix (the registry is not started):
   * exactly what the registry would write, so the scheduler learns about proplets from events.
   */
  proplet: {
    register(id: string, fields?: Partial<PropletRegisteredData>): Promise<number>;
    health(id: string, to: 'healthy' | 'offline' | 'failed'): Promise<number>;
    deregister(id: string): Promise<number>;
  };
  /** Appends the registry's site breaker events directly (see `proplet`); each returns the stream sequence. */
  site: {
    pause(site: string): Promise<number>;
    resume(site: string): Promise<number>;
  };
  /** Resolves once the placement loop has folded the log up to `seq` and has no command in flight. */
  loopAt(seq: number): Promise<void>;
  /** The read model row of a task, once `until` holds for it (polls the table; fails after `timeoutMs`). */
  taskWhen(id: string, until: (t: TaskView) => boolean, what: string, timeoutMs?: number): Promise<TaskView>;
  /** Every event of one task, in order. */
  taskEvents(id: string): Promise<StoredEnvelope[]>;
  close(): Promise<void>;
}

/** Provisions a fresh prefix (lease TTL 1.5 s), a fresh schema, and starts a scheduler on them; waits for its loop to be active. */
export async function openWorld(opts: Partial<StartSchedulerOptions> = {}): Promise<SchedulerWorld> {
  const nc = await connectTest('scheduler-test');
  const names = testNames();
  await provision(nc, names, { leaseTtlMs: TEST_LEASE_TTL_MS });
  const t = testDb<TasksTables>({ poolMax: 3 });
  const store = new EventStore(nc, names);
  const scheduler = await startScheduler({ nc, names, db: t.db, registry: new Registry(), standbyPollMs: 200, retryMs: 200, ...opts });
  await waitFor(() => scheduler.loop.isActive(), 'the placement loop to be active');
  await waitFor(() => scheduler.runner.state(TASKS_PROJECTION).state === 'running', 'the tasks projection to run');

  const send: SchedulerWorld['send'] = (name, data, meta = {}) => {
    const [aggregate, command] = name.split('.') as [string, string];
    return sendCommand(nc, names, aggregate, command, {
      meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString(), ...(meta.fencingToken === undefined ? {} : { fencingToken: meta.fencingToken }) },
      data,
    });
  };
  const appendTo = async (aggregate: 'proplet' | 'site', id: string, event: PropletEvent | SiteEvent): Promise<number> => {
    const { lastSequence } = await store.load(aggregate, id);
    const envelope = makeEnvelope({ event, aggregate, aggregateId: id, meta: { correlationId: randomUUID() }, id: randomUUID(), occurredAt: new Date().toISOString() });
    return (await store.append(aggregate, id, [envelope], lastSequence)).lastSequence;
  };
  const append = (id: string, event: PropletEvent): Promise<number> => appendTo('proplet', id, event);
  const healthOf = new Map<string, string>();
  return {
    nc,
    names,
    db: t.db,
    store,
    scheduler,
    send,
    async sendAndSettle(name, data) {
      const reply = await send(name, data);
      if (!(await waitForSequence(t.db, TASKS_PROJECTION, reply.lastSequence, 10_000))) {
        throw new Error(`the tasks read model did not reach sequence ${reply.lastSequence}`);
      }
      return reply;
    },
    proplet: {
      async register(id, fields = {}) {
        const seq = await append(id, {
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
            registeredAt: new Date().toISOString(),
            ...fields,
          },
        });
        healthOf.set(id, 'unknown');
        return seq;
      },
      async health(id, to) {
        const from = (healthOf.get(id) ?? 'unknown') as 'unknown';
        const seq = await append(id, {
          type: 'PropletHealthChanged',
          data: { from, to, reason: `test says ${to}`, evidence: { source: 'heartbeat' }, fencingToken: 1, changedAt: new Date().toISOString() },
        } as PropletEvent);
        healthOf.set(id, to);
        return seq;
      },
      deregister: (id) => append(id, { type: 'PropletDeregistered', data: { reason: 'test', deregisteredAt: new Date().toISOString() } }),
    },
    site: {
      pause: (site) =>
        appendTo('site', site, {
          type: 'SiteEvacuationPaused',
          data: { site, share: 0.6, threshold: 0.55, offline: 1, failed: 2, total: 5, fencingToken: 1, pausedAt: new Date().toISOString() },
        }),
      resume: (site) => appendTo('site', site, { type: 'SiteEvacuationResumed', data: { site, by: 'operator', resumedAt: new Date().toISOString() } }),
    },
    loopAt: (seq) =>
      waitFor(() => {
        const s = scheduler.loop.stats();
        return s.seq >= seq && s.sending === 0;
      }, `the placement loop to fold sequence ${seq} and send what it decided`),
    async taskWhen(id, until, what, timeoutMs = 10_000) {
      let last: TaskView | undefined;
      await waitFor(
        async () => {
          last = await getTask(t.db, id);
          return last !== undefined && until(last);
        },
        `task ${id}: ${what} (last seen ${last ? `${last.status}, attempt ${last.attempt}, on ${last.propletId ?? '-'}` : 'no row'})`,
        timeoutMs,
      );
      return last as TaskView;
    },
    async taskEvents(id) {
      return (await store.load('task', id)).events;
    },
    async close() {
      await scheduler.stop().catch(() => undefined);
      await cleanup(nc, names);
      await nc.close();
      await t.drop();
    },
  };
}
