import { headers, type NatsConnection } from '@nats-io/transport-node';
import {
  InvalidError,
  isConflict,
  isInvalid,
  isNotFound,
  isPropellerError,
  NotFoundError,
  type Envelope,
  type InvalidError as InvalidErrorType,
} from '@propeller/events';
import { cleanup, connectTest, testEnvelope, testNames } from './testing';
import {
  AggregateCache,
  ConcurrencyError,
  EventStore,
  handleCommand,
  provision,
  sendCommand,
  sendCommands,
  CommandBatcher,
  HEADER_BATCH,
  serveCommands,
  type AppendResult,
  type CommandServer,
  type Decider,
} from './index';

// A counter aggregate: small enough to read at a glance, rich enough to fail in every way.
type CounterCommand = { type: 'Add'; by: number } | { type: 'Bump' } | { type: 'Close' } | { type: 'Reopen' };
type CounterEvent = { type: 'Added'; data: { by: number } } | { type: 'Closed'; data: null } | { type: 'Reopened'; data: null };
type CounterState = { status: 'new' } | { status: 'counting' | 'closed'; total: number; count: number };

const counter: Decider<CounterCommand, CounterEvent, CounterState> = {
  initialState: () => ({ status: 'new' }),
  decide(command, state) {
    switch (command.type) {
      case 'Add':
        if (!(command.by > 0)) throw InvalidError.field('by', command.by, 'must be > 0');
        return [{ type: 'Added', data: { by: command.by } }];
      case 'Bump':
        if (state.status === 'new') throw new NotFoundError('counter does not exist');
        return [{ type: 'Added', data: { by: 1 } }];
      case 'Close':
        // Already closed: nothing to do (idempotent command).
        return state.status === 'closed' ? [] : [{ type: 'Closed', data: null }];
      case 'Reopen':
        if (state.status !== 'closed') throw InvalidError.field('status', state.status, 'must be closed to reopen');
        return [{ type: 'Reopened', data: null }];
      default: {
        const never: never = command;
        return never;
      }
    }
  },
  evolve(state, event) {
    const base = state.status === 'new' ? { total: 0, count: 0 } : { total: state.total, count: state.count };
    switch (event.type) {
      case 'Added':
        return { status: state.status === 'closed' ? 'closed' : 'counting', total: base.total + event.data.by, count: base.count + 1 };
      case 'Closed':
        return { status: 'closed', ...base };
      case 'Reopened':
        return { status: 'counting', ...base };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};

const meta = { correlationId: 'corr-1' };
const names = testNames();
let nc: NatsConnection;
let store: EventStore;

beforeAll(async () => {
  nc = await connectTest('eventstore-commands-int');
  await provision(nc, names);
  store = await EventStore.connect(nc, names);
});

afterAll(async () => {
  await cleanup(nc, names);
  await nc.close();
});

const add = (id: string, by: number, extra: Partial<Parameters<typeof handleCommand<CounterCommand, CounterEvent, CounterState>>[0]> = {}) =>
  handleCommand({ store, aggregate: 'counter', id, decider: counter, command: { type: 'Add', by }, meta, ...extra });

describe('handleCommand', () => {
  it('folds, decides and appends, carrying the command metadata into the envelope', async () => {
    const r = await add('c-basic', 2);
    const r2 = await add('c-basic', 3);
    expect(r2.state).toEqual({ status: 'counting', total: 5, count: 2 });
    expect(r2.attempts).toBe(1);
    const loaded = await store.load('counter', 'c-basic');
    expect(loaded.lastSequence).toBe(r2.lastSequence);
    expect(loaded.events[0]).toMatchObject({ type: 'Added', data: { by: 2 }, correlationId: 'corr-1', causationId: null, seq: r.lastSequence });
  });

  it('retries a version conflict against a stale cached state and succeeds', async () => {
    const cache = new AggregateCache<CounterState>();
    await add('c-stale', 1, { cache });
    // Another replica appends behind this cache's back.
    await add('c-stale', 10);
    const r = await add('c-stale', 100, { cache });
    expect(r.attempts).toBe(2);
    expect(r.state).toEqual({ status: 'counting', total: 111, count: 3 });
    expect(cache.get('counter', 'c-stale')).toMatchObject({ lastSequence: r.lastSequence, state: r.state });
  });

  it('checks the log before refusing a command or doing nothing on a cached state', async () => {
    const cache = new AggregateCache<CounterState>();
    const run = (command: CounterCommand, withCache: boolean) =>
      handleCommand({ store, aggregate: 'counter', id: 'c-cached', decider: counter, command, meta, ...(withCache ? { cache } : {}) });
    await run({ type: 'Add', by: 1 }, true);
    // Another replica closes it: the cached state still says counting, yet reopening must work.
    await run({ type: 'Close' }, false);
    const reopened = await run({ type: 'Reopen' }, true);
    expect(reopened.events).toEqual([{ type: 'Reopened', data: null }]);
    // The cache says closed, another replica reopens it: closing again is not a no-op.
    await run({ type: 'Close' }, true);
    await run({ type: 'Reopen' }, false);
    const closed = await run({ type: 'Close' }, true);
    expect(closed.events).toEqual([{ type: 'Closed', data: null }]);
    // With nothing new in the log, a refusal from the cached state stands.
    await expect(run({ type: 'Close' }, true)).resolves.toMatchObject({ events: [] });
    await expect(run({ type: 'Reopen' }, true)).resolves.toMatchObject({ events: [{ type: 'Reopened' }] });
    await expect(run({ type: 'Reopen' }, true)).rejects.toMatchObject({ code: 'Invalid' });
  });

  it('lets concurrent commands on one aggregate all succeed through retries', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((by) => add('c-concurrent', by)));
    const final = await handleCommand({ store, aggregate: 'counter', id: 'c-concurrent', decider: counter, command: { type: 'Bump' }, meta });
    expect(final.state).toEqual({ status: 'counting', total: 16, count: 6 });
    expect(results.reduce((n, r) => n + r.attempts, 0)).toBeGreaterThan(5);
  });

  it('runs concurrent commands of one aggregate that share a cache one after another, with no conflict', async () => {
    const cache = new AggregateCache<CounterState>();
    const results = await Promise.all([1, 2, 3, 4, 5].map((by) => add('c-queued', by, { cache })));
    expect(results.map((r) => r.attempts)).toEqual([1, 1, 1, 1, 1]);
    expect(results.map((r) => r.state)).toEqual([1, 3, 6, 10, 15].map((total, i) => ({ status: 'counting', total, count: i + 1 })));
  });

  it('gives up with ConcurrencyError after maxRetries conflicts', async () => {
    // A real store with a competing writer that always gets in first.
    class ContendedStore extends EventStore {
      tries = 0;
      override async append(aggregate: string, id: string, envelopes: readonly Envelope[], expected: number): Promise<AppendResult> {
        this.tries++;
        const { lastSequence } = await this.load(aggregate, id);
        await super.append(aggregate, id, [testEnvelope(aggregate, id, { type: 'Added', data: { by: 1 } })], lastSequence);
        return super.append(aggregate, id, envelopes, expected);
      }
    }
    const contended = new ContendedStore(nc, names);
    await expect(
      handleCommand({ store: contended, aggregate: 'counter', id: 'c-hot', decider: counter, command: { type: 'Add', by: 1 }, meta, maxRetries: 2 }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(contended.tries).toBe(3);
  });

  it('propagates decider errors unchanged and writes nothing', async () => {
    await expect(add('c-invalid', -1)).rejects.toMatchObject({ code: 'Invalid', issues: [{ field: 'by', value: -1, rule: 'must be > 0' }] });
    await expect(
      handleCommand({ store, aggregate: 'counter', id: 'c-missing', decider: counter, command: { type: 'Bump' }, meta }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect((await store.load('counter', 'c-invalid')).events).toEqual([]);
  });

  it('appends a likely-new aggregate without reading the log, and still folds an existing one correctly', async () => {
    class CountingStore extends EventStore {
      loads = 0;
      override async load(aggregate: string, id: string, opts?: { afterSequence?: number }) {
        this.loads++;
        return super.load(aggregate, id, opts);
      }
    }
    const counting = new CountingStore(nc, names);
    const fresh = await handleCommand({ store: counting, aggregate: 'counter', id: 'c-new', decider: counter, command: { type: 'Add', by: 2 }, meta, likelyNew: true, snapshot: false });
    expect(fresh).toMatchObject({ attempts: 1, state: { total: 2, count: 1 } });
    expect(counting.loads).toBe(0);
    // The id exists after all: the append conflicts, the retry loads the log and decides again.
    const existing = await handleCommand({ store: counting, aggregate: 'counter', id: 'c-new', decider: counter, command: { type: 'Add', by: 3 }, meta, likelyNew: true, snapshot: false });
    expect(existing).toMatchObject({ attempts: 2, state: { total: 5, count: 2 } });
    // A refusal against the guessed empty state is checked against the log before it stands.
    await handleCommand({ store, aggregate: 'counter', id: 'c-new', decider: counter, command: { type: 'Close' }, meta });
    const reopened = await handleCommand({ store: counting, aggregate: 'counter', id: 'c-new', decider: counter, command: { type: 'Reopen' }, meta, likelyNew: true, snapshot: false });
    expect(reopened.events).toEqual([{ type: 'Reopened', data: null }]);
  });

  it('snapshots past the threshold and starts from the snapshot afterwards', async () => {
    let last = 0;
    for (let i = 0; i < 3; i++) last = (await add('c-snap', 1, { snapshot: { every: 3 } })).lastSequence;
    expect(await store.loadSnapshot('counter', 'c-snap')).toEqual({ seq: last, state: { status: 'counting', total: 3, count: 3 }, schemaVersion: 1 });
    // A doctored snapshot proves the next load folds from it rather than from the first event.
    await store.saveSnapshot('counter', 'c-snap', { seq: last, state: { status: 'counting', total: 1000, count: 3 }, schemaVersion: 1 });
    expect((await add('c-snap', 1, { snapshot: { every: 3 } })).state).toEqual({ status: 'counting', total: 1001, count: 4 });
    // A snapshot of another state version is ignored: the log is replayed.
    expect((await add('c-snap', 1, { snapshot: { every: 3, schemaVersion: 2 } })).state).toEqual({ status: 'counting', total: 5, count: 5 });
  });
});

const batchHeaders = () => {
  const h = headers();
  h.set(HEADER_BATCH, '1');
  return h;
};

describe('commands over request/reply', () => {
  let servers: CommandServer[] = [];
  const servedBy: number[] = [];

  beforeAll(() => {
    servers = [0, 1].map((replica) =>
      serveCommands(nc, names, 'counter', {
        add: async (request) => {
          servedBy.push(replica);
          const { id, by } = request as { id: string; by: number };
          return handleCommand({ store, aggregate: 'counter', id, decider: counter, command: { type: 'Add', by }, meta });
        },
        bump: async (request) =>
          handleCommand({ store, aggregate: 'counter', id: (request as { id: string }).id, decider: counter, command: { type: 'Bump' }, meta }),
        crash: async () => {
          throw new Error('boom');
        },
        conflict: async () => {
          throw new ConcurrencyError({ aggregate: 'counter', aggregateId: 'x', expectedSequence: 3 });
        },
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('answers with the appended sequences', async () => {
    const reply = await sendCommand(nc, names, 'counter', 'add', { id: 'w-1', by: 4 });
    expect(reply).toMatchObject({ ok: true, aggregateId: 'w-1', sequences: [expect.any(Number)] });
    expect((await store.load('counter', 'w-1')).lastSequence).toBe(reply.lastSequence);
  });

  it('rebuilds typed errors on the caller side', async () => {
    const invalid = await sendCommand(nc, names, 'counter', 'add', { id: 'w-2', by: 0 }).catch((e: unknown) => e);
    expect(isInvalid(invalid)).toBe(true);
    expect((invalid as InvalidErrorType).issues).toEqual([{ field: 'by', value: 0, rule: 'must be > 0' }]);
    expect(isNotFound(await sendCommand(nc, names, 'counter', 'bump', { id: 'w-none' }).catch((e: unknown) => e))).toBe(true);
    const conflict = await sendCommand(nc, names, 'counter', 'conflict', {}).catch((e: unknown) => e);
    expect(isConflict(conflict)).toBe(true);
    expect(conflict).toMatchObject({ details: { aggregate: 'counter', expectedSequence: 3 } });
  });

  it('answers invalid JSON with Invalid and an unexpected failure with Internal, and keeps serving', async () => {
    const raw = await nc.request(names.commandSubject('counter', 'add'), '{not json', { timeout: 5_000 });
    expect(raw.json()).toMatchObject({ ok: false, error: { code: 'Invalid' } });
    const crash = await sendCommand(nc, names, 'counter', 'crash', {}).catch((e: unknown) => e);
    expect(isPropellerError(crash) && crash.code).toBe('Internal');
    await expect(sendCommand(nc, names, 'counter', 'add', { id: 'w-3', by: 1 })).resolves.toMatchObject({ ok: true });
  });

  it('reports a command nobody serves as Internal without waiting for the timeout', async () => {
    const started = Date.now();
    const e = await sendCommand(nc, names, 'counter', 'unknown', {}, { timeoutMs: 4_000 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'Internal', details: { reason: 'noResponders' } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  /** Serves `counter.tag` (on the leader subject when `leader`), noting the subject of every request in `seen`. */
  const serveTag = (seen: string[], leader: boolean): CommandServer =>
    serveCommands(
      nc,
      names,
      'counter',
      {
        tag: async (request, ctx) => {
          seen.push(ctx.subject);
          return { aggregateId: (request as { id: string }).id, sequences: [], lastSequence: 0 };
        },
      },
      { leader, queue: `${names.commandQueue('counter')}-${leader ? 'leader' : 'any'}` },
    );

  it('sends a leader command to the leader subject, and to the queue group when no leader answers', async () => {
    const seen: string[] = [];
    const serve = (leader: boolean) => serveTag(seen, leader);
    const any = serve(false);
    try {
      await sendCommand(nc, names, 'counter', 'tag', { id: 'l-1' }, { leader: true });
      const leader = serve(true);
      await nc.flush();
      await sendCommand(nc, names, 'counter', 'tag', { id: 'l-2' }, { leader: true });
      await sendCommand(nc, names, 'counter', 'tag', { id: 'l-3' });
      await leader.stop();
      expect(seen).toEqual([names.commandSubject('counter', 'tag'), names.leaderCommandSubject('counter', 'tag'), names.commandSubject('counter', 'tag')]);
    } finally {
      await any.stop();
    }
  });

  it('answers a batch item by item, in order, in one reply: appended sequences and typed errors', async () => {
    servedBy.length = 0;
    const out = await sendCommands(nc, names, 'counter', 'add', [
      { id: 'b-1', by: 2 },
      { id: 'b-2', by: 0 },
      { id: 'b-3', by: 5 },
    ]);
    expect(out.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(out[0]).toMatchObject({ value: { ok: true, aggregateId: 'b-1', sequences: [expect.any(Number)] } });
    expect(isInvalid((out[1] as PromiseRejectedResult).reason)).toBe(true);
    expect(((out[1] as PromiseRejectedResult).reason as InvalidErrorType).issues).toEqual([{ field: 'by', value: 0, rule: 'must be > 0' }]);
    expect((await store.load('counter', 'b-3')).lastSequence).toBe((out[2] as PromiseFulfilledResult<{ lastSequence: number }>).value.lastSequence);
    expect((await store.load('counter', 'b-2')).lastSequence).toBe(0);
    // One request: one replica ran all three.
    expect(servedBy).toHaveLength(3);
    expect(new Set(servedBy).size).toBe(1);
  });

  it('refuses a batch that is not an array as a whole, and sends each request alone to a replica that does not know batches', async () => {
    const raw = await nc.request(names.commandSubject('counter', 'add'), JSON.stringify({ id: 'x', by: 1 }), { timeout: 5_000, headers: batchHeaders() });
    expect(raw.json()).toMatchObject({ ok: false, error: { code: 'Invalid', details: { issues: [{ field: 'body' }] } } });

    // A replica from before batches: it parses the array as one request and refuses it.
    const subject = names.commandSubject('counter', 'old');
    const bodies: unknown[] = [];
    const old = nc.subscribe(subject, {
      callback: (_e, m) => {
        const body = m.json<unknown>();
        bodies.push(body);
        m.respond(JSON.stringify(Array.isArray(body) ? { ok: false, error: { code: 'Invalid', message: 'data.id: Required' } } : { ok: true, aggregateId: (body as { id: string }).id, sequences: [], lastSequence: 0 }));
      },
    });
    await nc.flush();
    try {
      const out = await sendCommands(nc, names, 'counter', 'old', [{ id: 'o-1' }, { id: 'o-2' }]);
      expect(out).toEqual([
        { status: 'fulfilled', value: { ok: true, aggregateId: 'o-1', sequences: [], lastSequence: 0 } },
        { status: 'fulfilled', value: { ok: true, aggregateId: 'o-2', sequences: [], lastSequence: 0 } },
      ]);
      expect(bodies).toEqual([[{ id: 'o-1' }, { id: 'o-2' }], { id: 'o-1' }, { id: 'o-2' }]);
    } finally {
      old.unsubscribe();
    }
  });

  it('sends a batch of a leader command to the leader subject', async () => {
    const seen: string[] = [];
    const leader = serveTag(seen, true);
    await nc.flush();
    try {
      const out = await sendCommands(nc, names, 'counter', 'tag', [{ id: 'lb-1' }, { id: 'lb-2' }], { leader: true });
      expect(out.map((r) => r.status === 'fulfilled' && r.value.aggregateId)).toEqual(['lb-1', 'lb-2']);
      expect(seen).toEqual([names.leaderCommandSubject('counter', 'tag'), names.leaderCommandSubject('counter', 'tag')]);
    } finally {
      await leader.stop();
    }
  });

  it('batches the requests made in one turn (CommandBatcher): one message each, every caller its own outcome', async () => {
    const subject = names.commandSubject('counter', 'add');
    const messages: boolean[] = [];
    const spy = nc.subscribe(subject, {
      callback: (_e, m) => {
        messages.push(m.headers?.has(HEADER_BATCH) === true);
      },
    });
    await nc.flush();
    try {
      const batcher = new CommandBatcher(nc, names, 'counter', 'add', { maxBatch: 4 });
      const sent = Array.from({ length: 6 }, (_, i) => batcher.send({ id: `cb-${i}`, by: i === 2 ? 0 : 1 }).then(
        (ok) => ok.aggregateId,
        (e: unknown) => (isInvalid(e) ? 'invalid' : 'other'),
      ));
      expect(await Promise.all(sent)).toEqual(['cb-0', 'cb-1', 'invalid', 'cb-3', 'cb-4', 'cb-5']);
      // Six requests of one turn, at most four a message: two batches.
      expect(messages).toEqual([true, true]);
      // Alone in its turn: a plain request.
      expect(await batcher.send({ id: 'cb-6', by: 1 })).toMatchObject({ ok: true, aggregateId: 'cb-6' });
      expect(messages).toEqual([true, true, false]);
      expect(() => new CommandBatcher(nc, names, 'counter', 'add', { maxBatch: 0 })).toThrow('maxBatch');
    } finally {
      spy.unsubscribe();
    }
  });

  it('fails every request of a batch nobody answers (CommandBatcher)', async () => {
    const batcher = new CommandBatcher(nc, names, 'counter', 'nobody', { timeoutMs: 500 });
    const out = await Promise.allSettled([batcher.send({ id: 'n-1' }), batcher.send({ id: 'n-2' })]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });

  it('spreads requests over the replicas of the queue group, each answered once', async () => {
    servedBy.length = 0;
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => sendCommand(nc, names, 'counter', 'add', { id: `q-${i}`, by: 1 })));
    expect(replies.every((r) => r.ok)).toBe(true);
    expect(servedBy).toHaveLength(20);
    expect(new Set(servedBy)).toEqual(new Set([0, 1]));
  });
});
