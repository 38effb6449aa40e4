/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen against Kysely<any> */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { makeEnvelope, natsNames, type Envelope, type StoredEnvelope, type TaskEvent } from '@propeller/events';
import { EventStore, isConcurrencyError, provision } from '@propeller/eventstore';
import { cleanup, connectTest } from '@propeller/eventstore/testing';
import { createDb, migrate, ProjectionRunner, waitForSequence, type Projection } from '@propeller/projections';
import { dropSchema, TEST_DATABASE_URL } from '@propeller/projections/testing';
import { tasksMigrations } from '@propeller/read-models';
// The scheduler does not export its projection (only `startScheduler`); the bench measures the real one by path.
// eslint-disable-next-line @nx/enforce-module-boundaries -- bench wiring only
import { TASKS_PROJECTION, tasksProjection } from '../../../../apps/scheduler/src/read-model/projection';
import type { BenchContext, Scenario } from '../harness';
import { elapsedMs, now, percentiles, perSecond } from '../stats';

/** One envelope of the bench's `counter` aggregate. */
function envelope(id: string, n: number): Envelope {
  return {
    id: randomUUID(),
    type: 'CounterIncremented',
    schemaVersion: 1,
    aggregate: 'counter',
    aggregateId: id,
    occurredAt: new Date().toISOString(),
    correlationId: randomUUID(),
    causationId: null,
    traceparent: null,
    data: { by: n },
  };
}

/** The fold the load-and-fold figure pays for: a counter's total and event count. */
const fold = (events: readonly StoredEnvelope[]): { total: number; count: number } =>
  events.reduce((s, e) => ({ total: s.total + (e.data as { by: number }).by, count: s.count + 1 }), { total: 0, count: 0 });

/** A simple read model: one row per counter, upserted per event (what a real projection costs, roughly). */
const counters: Projection = {
  name: 'bench-counters',
  async apply(trx, e) {
    const by = (e.data as { by: number }).by;
    await sql`insert into bench_counters (id, total, events) values (${e.aggregateId}, ${by}, 1)
      on conflict (id) do update set total = bench_counters.total + excluded.total, events = bench_counters.events + 1`.execute(trx);
  },
  async reset(trx) {
    await sql`delete from bench_counters`.execute(trx);
  },
};

const benchMigrations = {
  '20261127T1700_create_bench_counters': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('bench_counters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('total', 'bigint', (c) => c.notNull())
        .addColumn('events', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

/** Events in one task lifecycle (`taskLifecycle`). */
const LIFECYCLE_EVENTS = 5;

/**
 * The happy path of one task as the scheduler writes it (ARCHITECTURE.md: at most four events after
 * `TaskCreated`), with realistic payloads: a module reference, inputs, a placement explanation, a result.
 */
function taskLifecycle(n: number): TaskEvent[] {
  const at = new Date(Date.UTC(2026, 10, 27, 12, 0, 0, n)).toISOString();
  const proplet = `proplet-${n % 1000}`;
  const wireId = randomUUID();
  return [
    {
      type: 'TaskCreated',
      data: {
        name: `add-${n}`,
        functionName: 'add',
        module: { digest: `sha256:${'ab'.repeat(32)}`, size: 41, source: 'inline' },
        imageUrl: null,
        inputs: [n, 3],
        cliArgs: [],
        env: { RUST_LOG: 'info' },
        daemon: false,
        propletSelector: { matchTypes: ['external'] },
        preferredPropletType: 'any',
        resourceRequirements: {},
        maxAttempts: 3,
        timeoutMs: 600_000,
        labels: { bench: 'eventstore' },
        createdAt: at,
      },
    },
    { type: 'TaskStarted', data: { startedAt: at } },
    {
      type: 'TaskScheduled',
      data: { propletId: proplet, attempt: 1, wireId, explanation: `1000 proplets: 0 filtered; least loaded ${proplet} (0 of 100 tasks)`, scheduledAt: at },
    },
    { type: 'TaskRunning', data: { propletId: proplet, attempt: 1, wireId, evidence: 'taskStarted', runningAt: at } },
    { type: 'TaskCompleted', data: { results: String(n + 3), attempt: 1, wireId, propletId: proplet, completedAt: at } },
  ] as TaskEvent[];
}

/**
 * Appends the lifecycles of `count` tasks (numbered from `from`) as they interleave under load: `inFlight` tasks
 * advance at once, in waves where each appends its next event, 16 appends at a time, in shuffled order.
 * `afterAppend` runs after each append, before its writer goes on. Returns the last stream sequence.
 */
async function appendLifecycles(
  store: EventStore,
  from: number,
  count: number,
  inFlight: number,
  afterAppend?: (seq: number, appendedAt: number) => Promise<void>,
): Promise<{ last: number }> {
  type Lifecycle = { id: string; events: TaskEvent[]; next: number; seq: number };
  const lifecycles: Lifecycle[] = Array.from({ length: count }, (_, n) => ({ id: randomUUID(), events: taskLifecycle(from + n), next: 0, seq: 0 }));
  const correlationId = randomUUID();
  let started = 0;
  let last = 0;
  const active: Lifecycle[] = [];
  while (started < count || active.length > 0) {
    while (active.length < inFlight && started < count) active.push(lifecycles[started++] as Lifecycle);
    const wave = [...active].sort(() => Math.random() - 0.5);
    await pool(
      wave.map((t) => async () => {
        const event = t.events[t.next] as TaskEvent;
        const env = makeEnvelope({ event, aggregateId: t.id, meta: { correlationId }, id: randomUUID(), occurredAt: new Date() });
        const r = await store.append('task', t.id, [env], t.seq);
        const appendedAt = now();
        t.seq = r.lastSequence;
        t.next++;
        last = Math.max(last, r.lastSequence);
        if (afterAppend) await afterAppend(r.lastSequence, appendedAt);
      }),
      16,
    );
    for (let i = active.length - 1; i >= 0; i--) if ((active[i] as Lifecycle).next >= LIFECYCLE_EVENTS) active.splice(i, 1);
  }
  return { last };
}

function intArg(ctx: BenchContext, i: number, name: string, dflt: number): number {
  const raw = ctx.args[i];
  const v = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return v;
}

/** Runs `jobs` with at most `concurrency` in flight. */
async function pool<T>(jobs: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

/**
 * The event store's own figures on the real NATS and Postgres: appends/s without and with contention,
 * projection catch-up events/s, and load-and-fold of a 1,000-event aggregate. Own prefix and schema, removed after.
 */
export const scenario: Scenario = {
  name: 'eventstore',
  description:
    'appends/s without and with contention, projection events/s (a counter projection, and the real `tasks` projection over task lifecycles: catch-up, and live with 16 writers waiting to read their writes), load-and-fold of 1,000 events; args: [appends=2000] [writers=4] [appendsPerWriter=100] [foldRepeats=30] [tasks=2000] [tasksInFlight=100]',
  async run(ctx) {
    const appends = intArg(ctx, 0, 'appends', 2000);
    const writers = intArg(ctx, 1, 'writers', 4);
    const perWriter = intArg(ctx, 2, 'appendsPerWriter', 100);
    const foldRepeats = intArg(ctx, 3, 'foldRepeats', 30);
    const tasks = intArg(ctx, 4, 'tasks', 2000);
    const tasksInFlight = intArg(ctx, 5, 'tasksInFlight', 100);

    const tag = randomBytes(4).toString('hex');
    const names = natsNames(`bench${tag}`);
    const schema = `bench_${tag}`;
    const nc = await connectTest('bench-eventstore');
    const db = createDb({ url: process.env['DATABASE_URL'] ?? TEST_DATABASE_URL, schema, poolMax: 3 });
    let runner: ProjectionRunner | undefined;
    let readers: Kysely<any> | undefined;
    try {
      await provision(nc, names, { leaseTtlMs: 3000 });
      await migrate(db, { migrations: { ...benchMigrations, ...tasksMigrations } });
      const store = new EventStore(nc, names);
      const results: Record<string, unknown> = {};

      // 1. No contention: `appends` single-event appends over appends/10 aggregates, 16 in flight, each
      //    aggregate owned by one job chain so its expected sequence is always right.
      ctx.log(`appending ${appends} events to ${Math.ceil(appends / 10)} aggregates...`);
      const aggregates = Math.max(1, Math.ceil(appends / 10));
      const last = new Map<string, number>();
      const latencies: number[] = [];
      const t1 = now();
      await pool(
        Array.from({ length: aggregates }, (_, a) => async () => {
          const id = `free-${a}`;
          for (let k = a; k < appends; k += aggregates) {
            const t = now();
            const r = await store.append('counter', id, [envelope(id, 1)], last.get(id) ?? 0);
            latencies.push(elapsedMs(t));
            last.set(id, r.lastSequence);
          }
        }),
        16,
      );
      const freeMs = elapsedMs(t1);
      const lp = percentiles(latencies, [50, 99]);
      results['uncontended'] = {
        appends,
        aggregates,
        inFlight: 16,
        appendsPerSecond: perSecond(appends, freeMs),
        p50Ms: round(lp.p50),
        p99Ms: round(lp.p99),
      };

      // 2. Contention: `writers` writers on one aggregate, each until it has `perWriter` appends; a conflict
      //    reloads only the tail after its last known sequence and retries.
      ctx.log(`${writers} writers racing on one aggregate, ${perWriter} appends each...`);
      const hot = 'hot';
      let conflicts = 0;
      const t2 = now();
      await Promise.all(
        Array.from({ length: writers }, async () => {
          let expected = 0;
          for (let done = 0; done < perWriter; ) {
            try {
              expected = (await store.append('counter', hot, [envelope(hot, 1)], expected)).lastSequence;
              done++;
            } catch (e) {
              if (!isConcurrencyError(e)) throw e;
              conflicts++;
              expected = (await store.load('counter', hot, { afterSequence: expected })).lastSequence;
            }
          }
        }),
      );
      const hotMs = elapsedMs(t2);
      const hotAppends = writers * perWriter;
      const hotCheck = fold((await store.load('counter', hot)).events);
      if (hotCheck.count !== hotAppends) throw new Error(`contended aggregate holds ${hotCheck.count} events, expected ${hotAppends}`);
      results['contended'] = {
        writers,
        appends: hotAppends,
        appendsPerSecond: perSecond(hotAppends, hotMs),
        conflicts,
        retriesPerAppend: round(conflicts / hotAppends),
      };

      // 3. Load-and-fold: one aggregate of 1,000 events, loaded from the stream and folded `foldRepeats` times.
      ctx.log('appending a 1,000-event aggregate and folding it...');
      const big = 'big';
      await store.append('counter', big, Array.from({ length: 1000 }, (_, i) => envelope(big, i)), 0);
      const foldMs: number[] = [];
      for (let r = 0; r < foldRepeats; r++) {
        const t = now();
        const state = fold((await store.load('counter', big)).events);
        foldMs.push(elapsedMs(t));
        if (state.count !== 1000) throw new Error(`folded ${state.count} events, expected 1000`);
      }
      const fp = percentiles(foldMs, [50, 99]);
      results['loadAndFold'] = { events: 1000, repeats: foldRepeats, p50Ms: round(fp.p50), p99Ms: round(fp.p99) };

      // 4. Projection catch-up over everything above, from an empty read model.
      const info = await (await store.jsm()).streams.info(names.stream);
      const total = info.state.messages;
      ctx.log(`projecting ${total} events...`);
      runner = new ProjectionRunner({ nc, names, db, projections: [counters], registry: new Registry(), standbyPollMs: 100 });
      const t4 = now();
      runner.start();
      if (!(await waitForSequence(db, counters.name, info.state.last_seq, 120_000))) throw new Error('projection did not catch up in 120 s');
      const projMs = elapsedMs(t4);
      const projected = await sql<{ n: number }>`select coalesce(sum(events), 0)::int as n from bench_counters`.execute(db);
      if (projected.rows[0]?.n !== total) throw new Error(`projection holds ${projected.rows[0]?.n} events, expected ${total}`);
      results['projection'] = { events: total, seconds: round(projMs / 1000), eventsPerSecond: perSecond(total, projMs), batchSize: 500 };

      await runner.stop();
      runner = undefined;

      // 5. The real `tasks` projection (the scheduler's) catching up over task lifecycles (5 events each:
      //    created, started, scheduled, running, completed). `tasksInFlight` tasks advance at once, each by
      //    one event at a time in random order, so a task's events are spread over the stream as under load.
      ctx.log(`appending ${tasks} task lifecycles (${tasks * 5} events, ${tasksInFlight} tasks in flight)...`);
      const taskLast = (await appendLifecycles(store, 0, tasks, tasksInFlight)).last;
      const taskEvents = tasks * 5;
      ctx.log(`projecting ${taskEvents} task events with the tasks projection...`);
      runner = new ProjectionRunner({ nc, names, db, projections: [tasksProjection], registry: new Registry(), standbyPollMs: 100 });
      const cpu5 = process.cpuUsage();
      const t5 = now();
      runner.start();
      if (!(await waitForSequence(db, TASKS_PROJECTION, taskLast, 300_000))) throw new Error('tasks projection did not catch up in 300 s');
      const tasksMs = elapsedMs(t5);
      const cpu = process.cpuUsage(cpu5);
      const check = await sql<{ rows: number; completed: number; timeline: number }>`select
          (select count(*)::int from tasks) as rows,
          (select count(*)::int from tasks where status = 'completed' and results is not null and explanation is not null) as completed,
          (select count(*)::int from task_events) as timeline`.execute(db);
      const c = check.rows[0];
      if (c?.rows !== tasks || c.completed !== tasks || c.timeline !== taskEvents) {
        throw new Error(`tasks read model holds ${JSON.stringify(c)}, expected ${tasks} completed rows and ${taskEvents} timeline rows`);
      }
      // 6. The same projection live, as the API uses it: 16 writers each append a task's next event and wait until
      //    the read model shows it (`waitForSequence`, 2 s like the API; a timeout is what the API answers 202 on).
      ctx.log(`live: ${tasks} more task lifecycles, each append waited for in the read model (16 writers)...`);
      // The writers wait on a pool of their own, as the API does in its own process.
      readers = createDb({ url: process.env['DATABASE_URL'] ?? TEST_DATABASE_URL, schema, poolMax: 10 });
      const readerDb = readers;
      const visibleMs: number[] = [];
      let timeouts = 0;
      const cpu6 = process.cpuUsage();
      const t6 = now();
      await appendLifecycles(store, tasks, tasks, tasksInFlight, async (seq, appendedAt) => {
        if (await waitForSequence(readerDb, TASKS_PROJECTION, seq, 2000)) visibleMs.push(elapsedMs(appendedAt));
        else timeouts++;
      });
      const liveMs = elapsedMs(t6);
      const liveCpu = process.cpuUsage(cpu6);
      const liveCheck = await sql<{ n: number }>`select count(*)::int as n from tasks where status = 'completed'`.execute(db);
      if (liveCheck.rows[0]?.n !== 2 * tasks) throw new Error(`tasks read model holds ${liveCheck.rows[0]?.n} completed tasks, expected ${2 * tasks}`);
      const vp = percentiles(visibleMs, [50, 99]);
      results['tasksProjectionLive'] = {
        tasks,
        events: taskEvents,
        writers: 16,
        eventsPerSecond: perSecond(taskEvents, liveMs),
        appendToVisibleMs: { p50: round(vp.p50), p99: round(vp.p99) },
        timeouts,
        benchProcessCpuSeconds: round((liveCpu.user + liveCpu.system) / 1e6),
      };

      results['tasksProjection'] = {
        tasks,
        events: taskEvents,
        tasksInFlight,
        seconds: round(tasksMs / 1000),
        eventsPerSecond: perSecond(taskEvents, tasksMs),
        tasksPerSecond: perSecond(tasks, tasksMs),
        benchProcessCpuSeconds: round((cpu.user + cpu.system) / 1e6),
      };

      ctx.table('event store', [
        { case: 'append, no contention', count: appends, 'per second': perSecond(appends, freeMs), p50ms: round(lp.p50), p99ms: round(lp.p99) },
        { case: `append, ${writers} writers on one aggregate`, count: hotAppends, 'per second': perSecond(hotAppends, hotMs), conflicts },
        { case: 'load + fold 1,000 events', count: foldRepeats, p50ms: round(fp.p50), p99ms: round(fp.p99) },
        { case: 'projection catch-up, counters (incl. start)', count: total, 'per second': perSecond(total, projMs) },
        { case: 'projection catch-up, tasks (incl. start)', count: taskEvents, 'per second': perSecond(taskEvents, tasksMs) },
        {
          case: `tasks live: append then wait to see it (16 writers, ${timeouts} timeouts)`,
          count: taskEvents,
          'per second': perSecond(taskEvents, liveMs),
          p50ms: round(vp.p50),
          p99ms: round(vp.p99),
        },
      ]);
      return results;
    } finally {
      await runner?.stop().catch(() => undefined);
      await cleanup(nc, names).catch((e: unknown) => ctx.log(`cleanup of ${names.prefix} failed: ${String(e)}`));
      await dropSchema(db, schema).catch((e: unknown) => ctx.log(`dropping schema ${schema} failed: ${String(e)}`));
      await readers?.destroy();
      await db.destroy();
      await nc.close();
    }
  },
};

const round = (x: number): number => Math.round(x * 100) / 100;
