import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidError, isMadeEnvelope, type Envelope, type NatsNames, type StoredEnvelope } from '@propeller/events';
import { decodeEnvelope, envelopeHeaders, textBytes } from './codec';
import { ConcurrencyError } from './errors';
import { openOnce } from './open-once';
import { readSubject } from './read-subject';
import type { RecentEvents } from './recent-events';

/** Result of an append: the stream sequence of each envelope and the last one. */
export interface AppendResult {
  sequences: number[];
  lastSequence: number;
}

/** Events of one aggregate read back, with the sequence to expect on the next append. */
export interface LoadResult {
  events: StoredEnvelope[];
  /** Last subject sequence, or `afterSequence` (0 for a new aggregate) when nothing followed. */
  lastSequence: number;
}

/** A folded state saved so that long aggregates do not replay from the start. */
export interface Snapshot<S = unknown> {
  /** Last stream sequence folded into `state`. */
  seq: number;
  state: S;
  /** Version of the state's shape; a snapshot of another version is ignored and the log replayed. */
  schemaVersion: number;
}

/** Options of the event store. */
export interface EventStoreOptions {
  /** Applied to every envelope read (old schema versions upcast on read); default identity. */
  upcast?: (envelope: StoredEnvelope) => StoredEnvelope;
  /**
   * Where this process's own consumers of the stream find what it appends (`RecentEvents`), so they need not
   * decode and check it again. Only envelopes `makeEnvelope` built are remembered.
   */
  recent?: RecentEvents;
}

const WRONG_LAST_SEQUENCE = 10071;

/**
 * The event log on JetStream: one subject per aggregate instance, optimistic concurrency with
 * `expect.lastSubjectSequence`, and the envelope id as message id (ADR 0001).
 */
export class EventStore {
  readonly js: JetStreamClient;
  #jsm: Promise<JetStreamManager> | undefined;
  // Opened on first use; a failed open is tried again by the next call.
  readonly #snapshots = openOnce((): Promise<KV> => new Kvm(this.js).open(this.names.kv.snapshots));
  readonly #upcast: (envelope: StoredEnvelope) => StoredEnvelope;
  readonly #recent: RecentEvents | undefined;

  constructor(
    readonly nc: NatsConnection,
    readonly names: NatsNames,
    opts: EventStoreOptions = {},
  ) {
    this.js = jetstream(nc);
    this.#upcast = opts.upcast ?? ((e) => e);
    this.#recent = opts.recent;
  }

  /** Opens a store and checks that its stream exists (run `provision` first). */
  static async connect(nc: NatsConnection, names: NatsNames, opts: EventStoreOptions = {}): Promise<EventStore> {
    const store = new EventStore(nc, names, opts);
    await (await store.jsm()).streams.info(names.stream);
    return store;
  }

  /** The JetStream manager of this connection, created once. */
  jsm(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.nc);
    return this.#jsm;
  }

  /**
   * Appends envelopes to one aggregate, each expecting the previous one's sequence; the first
   * expects `expectedSequence` (0 = the aggregate has no events yet). Throws `ConcurrencyError`
   * when another writer got there first. A re-sent envelope (same id, within the duplicate
   * window) is stored once and answers its original sequence.
   */
  async append(aggregate: string, id: string, envelopes: readonly Envelope[], expectedSequence: number): Promise<AppendResult> {
    const subject = this.names.eventSubject(aggregate, id);
    if (!Number.isInteger(expectedSequence) || expectedSequence < 0) {
      throw InvalidError.field('expectedSequence', expectedSequence, 'must be an integer >= 0');
    }
    envelopes.forEach((e, i) => {
      if (e.aggregate !== aggregate || e.aggregateId !== id) {
        throw InvalidError.field(`envelopes[${i}]`, `${e.aggregate}/${e.aggregateId}`, `must belong to ${aggregate}/${id}`);
      }
    });
    const sequences: number[] = [];
    let expected = expectedSequence;
    const recent = this.#recent;
    for (const envelope of envelopes) {
      const json = JSON.stringify(envelope);
      const bytes = textBytes(json);
      // Remembered before the publish: the consumers of this process may read it before the ack arrives.
      if (recent !== undefined && isMadeEnvelope(envelope)) recent.remember(envelope.id, json, bytes);
      try {
        const ack = await this.js.publish(subject, bytes, {
          msgID: envelope.id,
          expect: { lastSubjectSequence: expected },
          headers: envelopeHeaders(envelope),
        });
        expected = ack.seq;
        sequences.push(ack.seq);
      } catch (e) {
        recent?.forget(envelope.id);
        if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) {
          throw new ConcurrencyError(
            { aggregate, aggregateId: id, expectedSequence: expected, appended: sequences.length },
            { cause: e },
          );
        }
        throw e;
      }
    }
    return { sequences, lastSequence: expected };
  }

  /** Reads one aggregate's events in order, after `afterSequence` (default 0 = from the start). */
  async load(aggregate: string, id: string, opts: { afterSequence?: number } = {}): Promise<LoadResult> {
    const afterSequence = opts.afterSequence ?? 0;
    const subject = this.names.eventSubject(aggregate, id);
    const events: StoredEnvelope[] = [];
    const last = await readSubject(this.js, await this.jsm(), this.names.stream, subject, afterSequence, (m) => {
      events.push(this.#upcast(decodeEnvelope(m.data, m.seq)));
    });
    return { events, lastSequence: Math.max(last, afterSequence) };
  }

  /** Removes every event of one aggregate (retention/archival); its next append expects 0. */
  async purge(aggregate: string, id: string): Promise<number> {
    const jsm = await this.jsm();
    const r = await jsm.streams.purge(this.names.stream, { filter: this.names.eventSubject(aggregate, id) });
    await this.deleteSnapshot(aggregate, id);
    return r.purged;
  }

  /** Saves the folded state of one aggregate in the snapshots bucket. */
  async saveSnapshot<S>(aggregate: string, id: string, snapshot: Snapshot<S>): Promise<void> {
    await (await this.snapshots()).put(snapshotKey(aggregate, id), JSON.stringify(snapshot));
  }

  /** The saved snapshot of one aggregate, or `null`. */
  async loadSnapshot<S>(aggregate: string, id: string): Promise<Snapshot<S> | null> {
    const entry = await (await this.snapshots()).get(snapshotKey(aggregate, id));
    if (!entry || entry.operation !== 'PUT') return null;
    return entry.json<Snapshot<S>>();
  }

  /** Forgets the snapshot of one aggregate (after a purge, or when its shape changed). */
  async deleteSnapshot(aggregate: string, id: string): Promise<void> {
    await (await this.snapshots()).purge(snapshotKey(aggregate, id));
  }

  private snapshots(): Promise<KV> {
    return this.#snapshots();
  }

}

/** KV keys allow `[-/_=.A-Za-z0-9]`, so the id travels base64url-encoded. */
export function snapshotKey(aggregate: string, id: string): string {
  return `${aggregate}.${Buffer.from(id, 'utf8').toString('base64url')}`;
}
