import { randomUUID } from 'node:crypto';
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { makeEnvelope, parseStoredEvent, type DomainEvent } from '@propeller/events';
import { cleanup, connectTest, testEnvelope, testNames } from './testing';
import { readSubject } from './read-subject';
import { EventStore, RecentEvents, decodeEnvelope, provision } from './index';

const names = testNames();
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectTest('recent-events-int');
  await provision(nc, names);
});

afterAll(async () => {
  await cleanup(nc, names);
  await nc.close();
});

const AT = '2026-11-27T13:00:00.000Z';
const made = (aggregate: string, aggregateId: string, event: DomainEvent, id: string = randomUUID()) =>
  makeEnvelope({ event, aggregate, aggregateId, meta: { correlationId: 'spec', causationId: 'cause' }, id, occurredAt: AT });

async function stored(store: EventStore, aggregate: string, id: string): Promise<JsMsg[]> {
  const out: JsMsg[] = [];
  await readSubject(store.js, await store.jsm(), names.stream, names.eventSubject(aggregate, id), 0, (m) => out.push(m));
  return out;
}

describe('RecentEvents', () => {
  it('gives the consumers of this process what parseStoredEvent of the stored bytes gives, shared and frozen', async () => {
    const recent = new RecentEvents({ readers: 2 });
    const store = new EventStore(nc, names, { recent });
    const task = randomUUID();
    // Defaults and transforms (the spec's), optional fields absent and present, JSON results, a proplet event.
    const events: DomainEvent[] = [
      { type: 'TaskCreated', data: { name: 'add', inputs: [2, 3], createdAt: AT, startedAt: AT } },
      { type: 'TaskScheduled', data: { propletId: 'p-1', attempt: 1, wireId: task, scheduledAt: AT, explanation: 'only one' } },
      { type: 'TaskCompleted', data: { attempt: 1, wireId: task, results: { sum: [5, { nested: null }] }, completedAt: AT } },
    ] as DomainEvent[];
    await store.append('task', task, events.map((e) => made('task', task, e)), 0);
    const proplet = `p-${randomUUID()}`;
    await store.append('proplet', proplet, [made('proplet', proplet, { type: 'PropletRegistered', data: { type: 'external', deviceType: 'esp32', capabilities: ['sensor'], labels: { zone: 'a' }, capacity: {}, dialect: 'wamr', channel: { domainId: 'd', channelId: 'c', layout: 'messages', perPropletTopics: true }, metadata: { namespace: 'embedded' }, registeredAt: AT } } as DomainEvent)], 0);

    const messages = [...(await stored(store, 'task', task)), ...(await stored(store, 'proplet', proplet))];
    expect(messages).toHaveLength(4);
    for (const m of messages) {
      const decoded = parseStoredEvent(decodeEnvelope(m.data, m.seq));
      const first = recent.read(m);
      expect(first).toBeDefined();
      // Same fields, same values, same key order (the read model stores the folded state as JSON).
      expect(JSON.stringify(first)).toBe(JSON.stringify(decoded));
      expect(first).toEqual(decoded);
      expect(Object.isFrozen(first)).toBe(true);
      expect(Object.isFrozen(first?.data)).toBe(true);
      // Checked once: parseStoredEvent hands it back as it is.
      expect(parseStoredEvent(first as never)).toBe(first);
      // The second reader gets the same object; after both, the entry is gone.
      expect(recent.read(m)).toBe(first);
      expect(recent.read(m)).toBeUndefined();
    }
    expect(recent.stats()).toEqual({ hits: 8, misses: 4, size: 0 });
  });

  it('remembers only envelopes makeEnvelope built', async () => {
    const recent = new RecentEvents({ readers: 1 });
    const store = new EventStore(nc, names, { recent });
    const id = randomUUID();
    await store.append('test', id, [testEnvelope('test', id)], 0);
    const [m] = await stored(store, 'test', id);
    expect(recent.read(m as JsMsg)).toBeUndefined();
  });

  it('does not serve other bytes than those stored under the id (a duplicate publish keeps the first)', async () => {
    const recent = new RecentEvents({ readers: 1 });
    const store = new EventStore(nc, names, { recent });
    const task = randomUUID();
    const eventId = randomUUID();
    await store.append('task', task, [made('task', task, { type: 'TaskStarted', data: { startedAt: AT } } as DomainEvent, eventId)], 0);
    // The same envelope id again with other data: JetStream answers it as a duplicate and stores nothing.
    const resent = made('task', task, { type: 'TaskStarted', data: { startedAt: '2026-11-27T14:00:00.000Z' } } as DomainEvent, eventId);
    await store.append('task', task, [resent], 0).catch(() => undefined);
    const [m] = await stored(store, 'task', task);
    expect(parseStoredEvent(decodeEnvelope((m as JsMsg).data, (m as JsMsg).seq)).data).toEqual({ startedAt: AT });
    expect(recent.read(m as JsMsg)).toBeUndefined();
  });

  it('forgets the oldest entry past its capacity, and an append that failed', async () => {
    const recent = new RecentEvents({ readers: 1, capacity: 2 });
    const store = new EventStore(nc, names, { recent });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await store.append('task', id, [made('task', id, { type: 'TaskStarted', data: { startedAt: AT } } as DomainEvent)], 0);
    const reads = [];
    for (const id of ids) reads.push(recent.read((await stored(store, 'task', id))[0] as JsMsg));
    expect(reads.map((r) => r !== undefined)).toEqual([false, true, true]);

    // Expecting sequence 5 of a new aggregate: refused, nothing stored, nothing kept.
    const other = randomUUID();
    await expect(store.append('task', other, [made('task', other, { type: 'TaskStarted', data: { startedAt: AT } } as DomainEvent)], 5)).rejects.toThrow();
    expect(recent.stats().size).toBe(0);
  });

  it('refuses a reader count that is not a positive integer', () => {
    expect(() => new RecentEvents({ readers: 0 })).toThrow('readers must be an integer >= 1, got 0');
  });
});
