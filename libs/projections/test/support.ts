import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { HEADER_SCHEMA, HEADER_TYPE, natsNames, type Envelope, type NatsNames } from '@propeller/events';
import type { AcquireLease } from '../src';
import type { LedgerEventType } from './ledger';

export function connectNats(): Promise<NatsConnection> {
  return connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', name: 'projections-test' });
}

export function testNames(): NatsNames {
  return natsNames(`t${randomUUID().replace(/-/g, '').slice(0, 10)}`);
}

/** The event stream and the leases bucket of one test prefix (lease TTL short, so take-over tests stay fast). */
export async function provisionTest(nc: NatsConnection, names: NatsNames, leaseTtlMs = 1500): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: names.stream, subjects: [names.streamSubjects] });
  await new Kvm(nc).create(names.kv.leases, { history: 1, ttl: leaseTtlMs });
}

export async function cleanupTest(nc: NatsConnection, names: NatsNames): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const s of [names.stream, `KV_${names.kv.leases}`]) await jsm.streams.delete(s).catch(() => undefined);
}

export interface LedgerEvent {
  account: string;
  type: LedgerEventType;
  amount: number;
}

/** Publishes ledger events as the event store does (headers, msgID = envelope id); returns their sequences in order. */
export async function publishLedger(nc: NatsConnection, names: NatsNames, events: readonly LedgerEvent[]): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  // In chunks: order inside a chunk does not matter to the ledger, and this keeps 1,000s of events quick.
  for (let i = 0; i < events.length; i += 100) {
    const acks = await Promise.all(
      events.slice(i, i + 100).map((e) => {
        const env: Envelope = {
          id: randomUUID(),
          type: e.type,
          schemaVersion: 1,
          aggregate: 'account',
          aggregateId: e.account,
          occurredAt: new Date().toISOString(),
          correlationId: randomUUID(),
          causationId: null,
          traceparent: null,
          data: { amount: e.amount },
        };
        const h = headers();
        h.set(HEADER_TYPE, env.type);
        h.set(HEADER_SCHEMA, String(env.schemaVersion));
        return js.publish(names.eventSubject('account', e.account), JSON.stringify(env), { msgID: env.id, headers: h });
      }),
    );
    seqs.push(...acks.map((a) => a.seq));
  }
  return seqs;
}

/** `n` deposits/withdrawals spread over `accounts` accounts; amounts are 1..97 so sums catch a double apply. */
export function ledgerEvents(n: number, accounts = 7, from = 0): LedgerEvent[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { account: `acct-${i % accounts}`, type: i % 5 === 4 ? 'Withdrawn' : 'Deposited', amount: (i % 97) + 1 };
  });
}

/** What `ledgerEvents` should add up to per account. */
export function expectedBalances(events: readonly LedgerEvent[]): Record<string, { balance: number; entries: number }> {
  const out: Record<string, { balance: number; entries: number }> = {};
  for (const e of events) {
    if (e.type !== 'Deposited' && e.type !== 'Withdrawn') continue;
    const b = (out[e.account] ??= { balance: 0, entries: 0 });
    b.balance += e.type === 'Withdrawn' ? -e.amount : e.amount;
    b.entries += 1;
  }
  return out;
}

/**
 * Stand-in for the eventstore's `Lease` until it is exported: create the key in the leases bucket, renew it with
 * `update(revision)` every third of the TTL, give it up on release. Same protocol as ARCHITECTURE.md describes.
 */
export function kvLeases(nc: NatsConnection, names: NatsNames, ttlMs = 1500): AcquireLease {
  return async (key) => {
    const kv = await new Kvm(nc).open(names.kv.leases);
    let revision: number;
    try {
      revision = await kv.create(key, 'held');
    } catch {
      return null;
    }
    let held = true;
    const timer = setInterval(() => {
      kv.update(key, 'held', revision).then(
        (r) => {
          revision = r;
        },
        () => {
          held = false;
          clearInterval(timer);
        },
      );
    }, Math.floor(ttlMs / 3));
    return {
      isHeld: () => held,
      async release() {
        clearInterval(timer);
        if (!held) return;
        held = false;
        await kv.delete(key, { previousSeq: revision }).catch(() => undefined);
      },
    };
  };
}

/** The last element, or a failed test if there is none. */
export function lastOf<T>(xs: readonly T[]): T {
  const x = xs[xs.length - 1];
  if (x === undefined) throw new Error('expected a non-empty list');
  return x;
}
