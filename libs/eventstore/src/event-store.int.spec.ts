import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { HEADER_SCHEMA, HEADER_TYPE, isConflict } from '@propeller/events';
import { cleanup, connectTest, testEnvelope, testNames } from './testing';
import { ConcurrencyError, EventStore, kvStreamName, provision } from './index';

const names = testNames();
let nc: NatsConnection;
let store: EventStore;

beforeAll(async () => {
  nc = await connectTest('eventstore-int');
  await provision(nc, names, { leaseTtlMs: 2_000 });
  store = await EventStore.connect(nc, names);
});

afterAll(async () => {
  await cleanup(nc, names);
  await nc.close();
});

describe('provision', () => {
  it('changes nothing when run again with the same options', async () => {
    const again = await provision(nc, names, { leaseTtlMs: 2_000 });
    expect(again.created).toEqual([]);
    expect(again.updated).toEqual([]);
    expect(again.unchanged).toHaveLength(8);
  });

  it('updates a drifted lease TTL and stream limit in place', async () => {
    const drifted = await provision(nc, names, { leaseTtlMs: 3_000, maxBytes: 512 * 1024 ** 2 });
    expect(drifted.updated.sort()).toEqual([names.kv.leases, names.stream].sort());
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(kvStreamName(names.kv.leases))).config.max_age).toBe(3_000 * 1e6);
    const events = await jsm.streams.info(names.stream);
    expect(events.config.max_bytes).toBe(512 * 1024 ** 2);
    expect(events.config.discard).toBe('new');
    await provision(nc, names, { leaseTtlMs: 2_000 });
  });
});

describe('EventStore.append', () => {
  it('stores events in order with type headers and returns their sequences', async () => {
    const a = testEnvelope('task', 'ordered.1 id', { type: 'First' });
    const b = testEnvelope('task', 'ordered.1 id', { type: 'Second', schemaVersion: 2 });
    const r = await store.append('task', 'ordered.1 id', [a, b], 0);
    expect(r.sequences).toHaveLength(2);
    expect(r.sequences[1]).toBeGreaterThan(r.sequences[0] ?? Infinity);
    expect(r.lastSequence).toBe(r.sequences[1]);

    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(names.stream, { seq: r.lastSequence });
    expect(stored?.subject).toBe(names.eventSubject('task', 'ordered.1 id'));
    expect(stored?.header.get(HEADER_TYPE)).toBe('Second');
    expect(stored?.header.get(HEADER_SCHEMA)).toBe('2');

    const loaded = await store.load('task', 'ordered.1 id');
    expect(loaded.events.map((e) => [e.type, e.seq])).toEqual([
      ['First', r.sequences[0]],
      ['Second', r.sequences[1]],
    ]);
    expect(loaded.lastSequence).toBe(r.lastSequence);
  });

  it('lets exactly one of two concurrent appends with the same expected sequence win', async () => {
    const id = 'race-1';
    const first = await store.append('task', id, [testEnvelope('task', id)], 0);
    const outcomes = await Promise.allSettled([
      store.append('task', id, [testEnvelope('task', id, { type: 'FromA' })], first.lastSequence),
      store.append('task', id, [testEnvelope('task', id, { type: 'FromB' })], first.lastSequence),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(ConcurrencyError);
    expect(isConflict(lost[0]?.reason)).toBe(true);
    expect((await store.load('task', id)).events).toHaveLength(2);
  });

  it('lets exactly one of two concurrent creations (expected sequence 0) win', async () => {
    const id = 'race-new';
    const outcomes = await Promise.allSettled([
      store.append('task', id, [testEnvelope('task', id)], 0),
      store.append('task', id, [testEnvelope('task', id)], 0),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((await store.load('task', id)).events).toHaveLength(1);
  });

  it('refuses an append whose expected sequence is behind, and names the aggregate', async () => {
    const id = 'stale-1';
    await store.append('task', id, [testEnvelope('task', id)], 0);
    await expect(store.append('task', id, [testEnvelope('task', id)], 0)).rejects.toMatchObject({
      code: 'Conflict',
      aggregate: 'task',
      aggregateId: id,
      expectedSequence: 0,
    });
  });

  it('stores a re-sent envelope once and answers its original sequence', async () => {
    const id = 'dup-1';
    const envelope = testEnvelope('task', id);
    const first = await store.append('task', id, [envelope], 0);
    // The client retries the same publish after a lost ack: same envelope, same expectation.
    const again = await store.append('task', id, [envelope], 0);
    expect(again.sequences).toEqual(first.sequences);
    const loaded = await store.load('task', id);
    expect(loaded.events.map((e) => e.id)).toEqual([envelope.id]);
  });

  it('refuses envelopes of another aggregate', async () => {
    await expect(store.append('task', 'x', [testEnvelope('task', 'y')], 0)).rejects.toMatchObject({ code: 'Invalid' });
  });
});

describe('EventStore.load', () => {
  it('returns nothing and sequence 0 for an aggregate without events', async () => {
    expect(await store.load('proplet', 'nobody')).toEqual({ events: [], lastSequence: 0 });
  });

  it('reads only the events after a given sequence', async () => {
    const id = 'after-1';
    const r = await store.append('task', id, [1, 2, 3].map((n) => testEnvelope('task', id, { data: { n } })), 0);
    const tail = await store.load('task', id, { afterSequence: r.sequences[0] ?? 0 });
    expect(tail.events.map((e) => e.data)).toEqual([{ n: 2 }, { n: 3 }]);
    const none = await store.load('task', id, { afterSequence: r.lastSequence });
    expect(none).toEqual({ events: [], lastSequence: r.lastSequence });
  });

  it('loads 1,000 events of one aggregate, interleaved with another, in order', async () => {
    const id = 'big-1';
    let seq = 0;
    let other = 0;
    for (let n = 0; n < 1_000; n++) {
      seq = (await store.append('task', id, [testEnvelope('task', id, { data: { n } })], seq)).lastSequence;
      if (n % 100 === 0) other = (await store.append('task', 'big-other', [testEnvelope('task', 'big-other')], other)).lastSequence;
    }
    // Speed is measured by `npm run bench`, never asserted (docs/adr/0003-test-levels.md).
    const loaded = await store.load('task', id);
    expect(loaded.events).toHaveLength(1_000);
    expect(loaded.events.map((e) => (e.data as { n: number }).n)).toEqual([...Array(1_000).keys()]);
    expect(loaded.lastSequence).toBe(seq);
  });
});

describe('EventStore.purge and snapshots', () => {
  it('purges one aggregate so that its next append expects 0', async () => {
    const id = 'purged-1';
    await store.append('task', id, [testEnvelope('task', id)], 0);
    await store.append('task', 'kept-1', [testEnvelope('task', 'kept-1')], 0);
    expect(await store.purge('task', id)).toBe(1);
    expect(await store.load('task', id)).toEqual({ events: [], lastSequence: 0 });
    expect((await store.load('task', 'kept-1')).events).toHaveLength(1);
    await expect(store.append('task', id, [testEnvelope('task', id)], 0)).resolves.toMatchObject({ sequences: [expect.any(Number)] });
  });

  it('saves and loads a snapshot under an id that is not a valid KV key', async () => {
    const id = 'weird id.*>%é';
    expect(await store.loadSnapshot('proplet', id)).toBeNull();
    await store.saveSnapshot('proplet', id, { seq: 42, state: { n: 1 }, schemaVersion: 3 });
    expect(await store.loadSnapshot('proplet', id)).toEqual({ seq: 42, state: { n: 1 }, schemaVersion: 3 });
  });
});
