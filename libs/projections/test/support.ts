import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Envelope, NatsNames } from '@propeller/events';
import { EventStore } from '@propeller/eventstore';
import type { LedgerEventType } from './ledger';

export interface LedgerEvent {
  account: string;
  type: LedgerEventType;
  amount: number;
}

/**
 * Appends ledger events through the event store, one chain of appends per account (in parallel across accounts);
 * returns every stored sequence in stream order.
 */
export async function publishLedger(nc: NatsConnection, names: NatsNames, events: readonly LedgerEvent[]): Promise<number[]> {
  const store = new EventStore(nc, names);
  const byAccount = new Map<string, Envelope[]>();
  for (const e of events) {
    const list = byAccount.get(e.account) ?? [];
    list.push({
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
    });
    byAccount.set(e.account, list);
  }
  const results = await Promise.all(
    [...byAccount].map(async ([account, envelopes]) => {
      const { lastSequence } = await store.load('account', account);
      return (await store.append('account', account, envelopes, lastSequence)).sequences;
    }),
  );
  return results.flat().sort((a, b) => a - b);
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

/** The last element, or a failed test if there is none. */
export function lastOf<T>(xs: readonly T[]): T {
  const x = xs[xs.length - 1];
  if (x === undefined) throw new Error('expected a non-empty list');
  return x;
}
