import { EventStore } from '@propeller/eventstore';
import { connectTest } from '@propeller/eventstore/testing';
import { waitForSequence } from '@propeller/projections';
import { listProplets } from '@propeller/read-models';
import type { NatsConnection } from '@nats-io/transport-node';
import { PROPLETS_PROJECTION } from './read-model/projection';
import { openWorld, type RegistryWorld } from './testing/world';

// Two registry replicas (separate aggregate caches) in one queue group, two command clients racing
// to register the same 50 proplets: the log must hold exactly one PropletRegistered per proplet.

const N = 50;
const ids = Array.from({ length: N }, (_, i) => `race-${String(i).padStart(2, '0')}`);

const registration = (id: string, client: string) => ({
  propletId: id,
  type: 'external' as const,
  deviceType: 'rpi',
  capabilities: ['wasm'],
  dialect: 'wasmtime' as const,
  channel: { domainId: 'propeller', channelId: 'control', layout: 'messages' as const, perPropletTopics: false },
  metadata: { hostname: client },
});

describe('concurrent registrations', () => {
  let w: RegistryWorld;
  let clients: NatsConnection[];

  beforeAll(async () => {
    w = await openWorld();
    await w.replica();
    clients = [await connectTest('registry-client-1'), await connectTest('registry-client-2')];
  });

  afterAll(async () => {
    await Promise.allSettled((clients ?? []).map((c) => c.close()));
    await w?.close();
  });

  it('gives exactly one PropletRegistered per proplet when two clients register the same 50 at once', async () => {
    const [a, b] = clients as [NatsConnection, NatsConnection];
    // Same content from both clients, so the loser of each race decides "unchanged" and appends nothing.
    const replies = await Promise.all(ids.flatMap((id) => [a, b].map((c) => w.send('proplet.register', registration(id, 'same'), {}, c))));
    expect(replies).toHaveLength(2 * N);

    const store = new EventStore(w.nc, w.names);
    const registeredPer = await Promise.all(ids.map(async (id) => (await store.load('proplet', id)).events.filter((e) => e.type === 'PropletRegistered').length));
    expect(registeredPer).toEqual(ids.map(() => 1));
    // Every proplet's two replies name the same last sequence: both saw the one registration.
    const byId = new Map<string, Set<number>>();
    for (const r of replies) byId.set(r.aggregateId, (byId.get(r.aggregateId) ?? new Set()).add(r.lastSequence));
    expect([...byId.values()].every((s) => s.size === 1)).toBe(true);

    const last = Math.max(...replies.map((r) => r.lastSequence));
    expect(await waitForSequence(w.db, PROPLETS_PROJECTION, last, 10_000)).toBe(true);
    expect((await listProplets(w.db, { limit: 1000 })).total).toBe(N);
  });

  it('records one registration and at most one update per proplet when the two clients report different content', async () => {
    const racers = ids.map((id) => `diff-${id}`);
    await Promise.all(racers.flatMap((id) => [
      w.send('proplet.register', registration(id, 'client-1'), {}, clients[0]),
      w.send('proplet.register', registration(id, 'client-2'), {}, clients[1]),
    ]));
    const store = new EventStore(w.nc, w.names);
    for (const id of racers) {
      const types = (await store.load('proplet', id)).events.map((e) => e.type);
      // The first writer registers; the second finds a known proplet and records only what differs.
      expect(types).toEqual(['PropletRegistered', 'PropletUpdated']);
    }
  });
});
