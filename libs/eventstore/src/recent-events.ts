import type { JsMsg } from '@nats-io/jetstream';
import { appendedEvent, type StoredEventEnvelope } from '@propeller/events';
import { msgIdHeader } from './type-header';

/** Options of `RecentEvents`. */
export interface RecentEventsOptions {
  /** How many consumers of this process read each event (an entry is dropped after that many reads). */
  readers: number;
  /** Entries kept at most, the oldest dropped first (default 4,096). */
  capacity?: number;
}

interface Entry {
  readonly json: string;
  readonly bytes: Uint8Array;
  event: StoredEventEnvelope | undefined;
  reads: number;
}

const DEFAULT_CAPACITY = 4_096;

/**
 * The events this process is appending, for its own consumers of the stream (the scheduler's placement loop
 * and `tasks` projection): a consumer that reads back an event this process appended a moment ago gets it
 * without decoding and checking the bytes again (`appendedEvent` of `@propeller/events`), and every reader the
 * same frozen object. The event store remembers an envelope `makeEnvelope` built before it publishes it (a
 * consumer may see the message before the publish is acknowledged); a reader finds it by the message's
 * `Nats-Msg-Id` header (read from the raw header block when the headers are not decoded) and takes it only when the stored bytes are the bytes remembered (a duplicate publish keeps
 * the first bytes), else decodes as usual. Bounded: an entry leaves after `readers` reads, or as the oldest
 * once `capacity` is reached (a reader far behind, or a publish that failed, decodes as usual).
 */
export class RecentEvents {
  readonly #entries = new Map<string, Entry>();
  readonly #readers: number;
  readonly #capacity: number;
  #hits = 0;
  #misses = 0;

  constructor(o: RecentEventsOptions) {
    if (!Number.isInteger(o.readers) || o.readers < 1) throw new RangeError(`RecentEvents: readers must be an integer >= 1, got ${String(o.readers)}`);
    this.#readers = o.readers;
    this.#capacity = o.capacity ?? DEFAULT_CAPACITY;
  }

  /** Called by the event store before it publishes an envelope `makeEnvelope` built: its id, JSON text and bytes. */
  remember(id: string, json: string, bytes: Uint8Array): void {
    this.#entries.delete(id);
    this.#entries.set(id, { json, bytes, event: undefined, reads: 0 });
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Called by the event store when the publish failed: nothing was stored under this id by it. */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  /** The event of a stream message this process appended, or `undefined` (then decode it as usual). */
  read(m: JsMsg): StoredEventEnvelope | undefined {
    // Straight from the header block when the headers were not decoded (the placement loop never decodes them).
    const id = msgIdHeader(m);
    const entry = id === '' ? undefined : this.#entries.get(id);
    if (entry === undefined || !sameBytes(entry.bytes, m.data)) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    if (entry.event === undefined || entry.event.seq !== m.seq) entry.event = appendedEvent(entry.json, m.seq);
    if (++entry.reads >= this.#readers) this.#entries.delete(id);
    return entry.event;
  }

  /** Reads served from memory and reads that were not, since the start; entries held now. */
  stats(): { hits: number; misses: number; size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
