import { randomUUID } from 'node:crypto';
import { InvalidError, type Envelope, type EventMeta, type StoredEnvelope } from '@propeller/events';
import { isConcurrencyError } from './errors';
import type { EventStore } from './event-store';
import { KeyedQueue } from './keyed-queue';

/** An aggregate written as a pure decider (STYLE.md rule 5). */
export interface Decider<C, E, S> {
  initialState(): S;
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/** The folded state of one aggregate and the subject sequence it was folded up to. */
export interface CachedAggregate<S> {
  state: S;
  lastSequence: number;
  /** Events folded since the last snapshot (drives the snapshot policy). */
  sinceSnapshot: number;
}

/**
 * In-memory cache of hot aggregates in the service that owns them. Bounded (least recently
 * used entries leave first); the command handler drops an entry when an append conflicts.
 * `handleCommand` also runs the commands of one aggregate that share a cache one after another
 * (`exclusive`): two commands arriving together (a device's `task_started` and its result) would
 * otherwise race, and the loser reload the aggregate from the log.
 */
export class AggregateCache<S> {
  readonly #entries = new Map<string, CachedAggregate<S>>();
  readonly #turns = new KeyedQueue();
  // Kept from one eviction to the next: a fresh `keys()` would walk over the holes that every earlier
  // eviction left at the front of the table (about 6 µs a set once full). Map iterators follow later
  // inserts and deletes, and every entry it passed was evicted, so its next key is the oldest.
  #oldest: MapIterator<string> | undefined;

  /** @param maxEntries how many aggregates stay in memory (default 10,000). */
  constructor(readonly maxEntries = 10_000) {}

  /** The entry without marking it used (inspection). */
  peek(aggregate: string, id: string): CachedAggregate<S> | undefined {
    return this.#entries.get(cacheKey(aggregate, id));
  }

  /** The entry, marked most recently used. */
  get(aggregate: string, id: string): CachedAggregate<S> | undefined {
    const key = cacheKey(aggregate, id);
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  set(aggregate: string, id: string, value: CachedAggregate<S>): void {
    const key = cacheKey(aggregate, id);
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.maxEntries) {
      this.#oldest ??= this.#entries.keys();
      let oldest = this.#oldest.next();
      if (oldest.done === true) {
        // Nothing left behind it: start over from the front.
        this.#oldest = this.#entries.keys();
        oldest = this.#oldest.next();
      }
      this.#entries.delete(oldest.value as string);
    }
  }

  delete(aggregate: string, id: string): void {
    this.#entries.delete(cacheKey(aggregate, id));
  }

  /** Runs `fn` after the earlier `exclusive` calls of this aggregate have settled (other aggregates run concurrently). */
  async exclusive<T>(aggregate: string, id: string, fn: () => Promise<T>): Promise<T> {
    let result: T | undefined;
    await this.#turns.push(cacheKey(aggregate, id), async () => {
      result = await fn();
    });
    return result as T;
  }

  get size(): number {
    return this.#entries.size;
  }
}

const cacheKey = (aggregate: string, id: string): string => `${aggregate}\u0000${id}`;

/** The event shape the default envelope mapping expects: a typed payload, versioned by `schemaVersion` (default 1). */
export interface EventLike {
  type: string;
  data?: unknown;
  schemaVersion?: number;
}

/** What the handler knows when it wraps an event into an envelope. */
export interface EnvelopeContext {
  aggregate: string;
  aggregateId: string;
  meta: EventMeta;
  id: string;
  occurredAt: string;
}

/** Aggregates past this many events since their last snapshot get a new one (ARCHITECTURE.md). */
export const SNAPSHOT_EVERY = 200;

/** Options of `handleCommand`. */
export interface HandleCommandOptions<C, E, S> {
  store: EventStore;
  aggregate: string;
  id: string;
  decider: Decider<C, E, S>;
  command: C;
  /** Correlation, causation and trace of the command, copied into every envelope. */
  meta: EventMeta;
  /** Wraps a decided event; default takes `{type, data, schemaVersion}` from an `EventLike`; pass `makeEnvelope` from `@propeller/events` for catalog events. */
  toEnvelope?: (event: E, ctx: EnvelopeContext) => Envelope;
  /** Unwraps a stored envelope for `evolve`; default `{type, data, schemaVersion}` (`parseStoredEvent` upcasts catalog events). */
  fromEnvelope?: (envelope: StoredEnvelope) => E;
  /** Reloads and retries after this many version conflicts before giving up (default 5). */
  maxRetries?: number;
  /** Hot aggregates; omitted = always load from the log (and snapshot). */
  cache?: AggregateCache<S>;
  /**
   * The command almost always meets a new aggregate (a create with a fresh id): on a cache miss decide
   * against the initial state and append expecting no events, without reading the log first. When the
   * aggregate does exist the append conflicts, and the retry loads it as usual.
   */
  likelyNew?: boolean;
  /** Snapshot policy: save past `every` events (default 200) with this state `schemaVersion` (default 1); `false` = never. */
  snapshot?: { every?: number; schemaVersion?: number } | false;
  /** Event ids (default random UUIDs) and the clock, injectable for tests. */
  newId?: () => string;
  now?: () => Date;
}

/** What a handled command produced. */
export interface HandleCommandResult<E, S> {
  aggregateId: string;
  events: E[];
  sequences: number[];
  lastSequence: number;
  state: S;
  /** How many times the command was decided (1 = no conflict). */
  attempts: number;
}

const defaultToEnvelope = (event: unknown, ctx: EnvelopeContext): Envelope => {
  const e = event as EventLike;
  if (typeof e?.type !== 'string') throw InvalidError.field('event.type', e?.type, 'must be a string (or pass toEnvelope)');
  return {
    id: ctx.id,
    type: e.type,
    schemaVersion: e.schemaVersion ?? 1,
    aggregate: ctx.aggregate,
    aggregateId: ctx.aggregateId,
    occurredAt: ctx.occurredAt,
    correlationId: ctx.meta.correlationId,
    causationId: ctx.meta.causationId ?? null,
    traceparent: ctx.meta.traceparent ?? null,
    data: e.data ?? null,
  };
};

const defaultFromEnvelope = (envelope: StoredEnvelope): EventLike => ({
  type: envelope.type,
  data: envelope.data,
  schemaVersion: envelope.schemaVersion,
});

/**
 * The generic command handler: load (from the cache, else snapshot + log), fold, decide, append
 * with the expected sequence; on a version conflict drop the cached entry, reload and decide again,
 * at most `maxRetries` times. Errors thrown by `decide` propagate unchanged and write nothing; when
 * they (or a no-op) come from a cached state, the log is checked for newer events first.
 */
export async function handleCommand<C, E, S>(opts: HandleCommandOptions<C, E, S>): Promise<HandleCommandResult<E, S>> {
  return opts.cache ? opts.cache.exclusive(opts.aggregate, opts.id, () => decideAndAppend(opts)) : decideAndAppend(opts);
}

async function decideAndAppend<C, E, S>(opts: HandleCommandOptions<C, E, S>): Promise<HandleCommandResult<E, S>> {
  const { store, aggregate, id, decider, command, meta, cache } = opts;
  const maxRetries = opts.maxRetries ?? 5;
  const toEnvelope = opts.toEnvelope ?? (defaultToEnvelope as (event: E, ctx: EnvelopeContext) => Envelope);
  const fromEnvelope = opts.fromEnvelope ?? (defaultFromEnvelope as unknown as (envelope: StoredEnvelope) => E);
  const newId = opts.newId ?? randomUUID;
  const now = opts.now ?? (() => new Date());
  const snapshotEvery = opts.snapshot === false ? Infinity : (opts.snapshot?.every ?? SNAPSHOT_EVERY);
  const snapshotVersion = opts.snapshot === false ? 1 : (opts.snapshot?.schemaVersion ?? 1);

  for (let attempt = 1; ; attempt++) {
    // A likely-new aggregate is treated as a cached empty one: a decision that writes is checked by the
    // append's expectation, a refusal or a no-op against the log.
    const cached = cache?.get(aggregate, id) ?? (attempt === 1 && opts.likelyNew === true ? { state: decider.initialState(), lastSequence: 0, sinceSnapshot: 0 } : undefined);
    let current = cached ?? (await loadFolded(store, aggregate, id, decider, fromEnvelope, snapshotEvery === Infinity ? null : snapshotVersion));
    let events: E[];
    if (cached) {
      // A cached state may be behind another replica's writes. For a decision that writes, the
      // append's expectation catches that; a refusal or a no-op is checked against the log first.
      const outcome = tryDecide(decider, command, cached.state);
      if (outcome.ok && outcome.events.length > 0) {
        events = outcome.events;
      } else {
        const fresh = await catchUp(store, aggregate, id, decider, fromEnvelope, cached);
        if (fresh.lastSequence === cached.lastSequence) {
          if (!outcome.ok) throw outcome.error;
          events = [];
        } else {
          current = fresh;
          cache?.set(aggregate, id, fresh);
          events = decider.decide(command, fresh.state);
        }
      }
    } else {
      events = decider.decide(command, current.state);
    }
    if (events.length === 0) {
      cache?.set(aggregate, id, current);
      return { aggregateId: id, events, sequences: [], lastSequence: current.lastSequence, state: current.state, attempts: attempt };
    }
    const occurredAt = now().toISOString();
    const envelopes = events.map((e) => toEnvelope(e, { aggregate, aggregateId: id, meta, id: newId(), occurredAt }));
    try {
      const appended = await store.append(aggregate, id, envelopes, current.lastSequence);
      const state = events.reduce((s, e) => decider.evolve(s, e), current.state);
      let sinceSnapshot = current.sinceSnapshot + events.length;
      if (sinceSnapshot >= snapshotEvery) {
        // A failed snapshot costs only replay time later; the command itself has succeeded.
        await store.saveSnapshot(aggregate, id, { seq: appended.lastSequence, state, schemaVersion: snapshotVersion }).then(
          () => (sinceSnapshot = 0),
          () => undefined,
        );
      }
      cache?.set(aggregate, id, { state, lastSequence: appended.lastSequence, sinceSnapshot });
      return { aggregateId: id, events, ...appended, state, attempts: attempt };
    } catch (e) {
      cache?.delete(aggregate, id);
      if (!isConcurrencyError(e) || attempt > maxRetries) throw e;
      // Spread competing writers apart a little so they do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

function tryDecide<C, E, S>(decider: Decider<C, E, S>, command: C, state: S): { ok: true; events: E[] } | { ok: false; error: unknown } {
  try {
    return { ok: true, events: decider.decide(command, state) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Folds the events appended after a cached state into it (one lookup when there are none). */
async function catchUp<E, S>(
  store: EventStore,
  aggregate: string,
  id: string,
  decider: Pick<Decider<unknown, E, S>, 'evolve'>,
  fromEnvelope: (envelope: StoredEnvelope) => E,
  cached: CachedAggregate<S>,
): Promise<CachedAggregate<S>> {
  const { events, lastSequence } = await store.load(aggregate, id, { afterSequence: cached.lastSequence });
  if (events.length === 0) return cached;
  const state = events.reduce((s, e) => decider.evolve(s, fromEnvelope(e)), cached.state);
  return { state, lastSequence, sinceSnapshot: cached.sinceSnapshot + events.length };
}

/** Folds one aggregate from its snapshot (when `snapshotVersion` matches) and the events after it. */
export async function loadFolded<E, S>(
  store: EventStore,
  aggregate: string,
  id: string,
  decider: Pick<Decider<unknown, E, S>, 'initialState' | 'evolve'>,
  fromEnvelope: (envelope: StoredEnvelope) => E,
  snapshotVersion: number | null,
): Promise<CachedAggregate<S>> {
  const snapshot = snapshotVersion === null ? null : await store.loadSnapshot<S>(aggregate, id);
  const usable = snapshot !== null && snapshot.schemaVersion === snapshotVersion;
  const start = usable ? snapshot.state : decider.initialState();
  const { events, lastSequence } = await store.load(aggregate, id, { afterSequence: usable ? snapshot.seq : 0 });
  const state = events.reduce((s, e) => decider.evolve(s, fromEnvelope(e)), start);
  return { state, lastSequence, sinceSnapshot: events.length };
}
