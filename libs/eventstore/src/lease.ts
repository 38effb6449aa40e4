import { hostname } from 'node:os';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidError, NotLeaderError, type NatsNames } from '@propeller/events';

/** What a lease key holds. `token` is the fencing token: the revision of the write that acquired it. */
export interface LeaseRecord {
  holder: string;
  token: number;
  acquiredAt: string;
  renewedAt: string;
}

/** Options of a lease; the TTL itself is the leases bucket's max age (see `provision`). */
export interface LeaseOptions {
  /** Who holds it, for operators (default `<hostname>/<pid>`). */
  holder?: string;
  /** Renewal period (default a third of the bucket TTL, so two renewals can fail before expiry). */
  renewEveryMs?: number;
  /** How often a non-holder tries to take it (default a tenth of the TTL). */
  retryEveryMs?: number;
  /** Called with the fencing token when this process becomes the holder. */
  onAcquired?: (token: number) => void;
  /** Called when this process stops being the holder (`released` when it let go itself). */
  onLost?: (reason: 'expired' | 'taken' | 'released' | 'unreachable') => void;
}

const KEY_RE = /^[-/_=.A-Za-z0-9]+$/;
// Shortest pause between two acquisition tries, so a late server-side expiry is not hammered.
const MIN_RETRY_MS = 25;

/**
 * A singleton lease in the leases KV bucket (ARCHITECTURE.md "Singletons"): acquired with
 * `create`, renewed with `update(revision)` well inside the bucket's TTL, released by deleting it.
 * The fencing token is the revision of the acquiring write; it stays the same across renewals and
 * grows with every new holder, so `assertFencingToken` can refuse commands from a dead holder.
 */
export class Lease {
  readonly holder: string;
  readonly #renewEveryMs: number;
  readonly #retryEveryMs: number;
  #revision = 0;
  #token = 0;
  #acquiredAt = '';
  #lastRenewAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  // false after `tryAcquire`: a lost lease is not taken again without being asked.
  #competing = true;
  #tick: Promise<void> = Promise.resolve();
  #nextTryMs = 0;

  constructor(
    readonly kv: KV,
    readonly key: string,
    readonly ttlMs: number,
    readonly opts: LeaseOptions = {},
  ) {
    if (!KEY_RE.test(key)) throw InvalidError.field('lease key', key, 'must match [-/_=.A-Za-z0-9]+');
    if (!(ttlMs > 0)) throw InvalidError.field('leases bucket ttl', ttlMs, 'must be > 0 (provision sets it)');
    this.holder = opts.holder ?? `${hostname()}/${process.pid}`;
    this.#renewEveryMs = opts.renewEveryMs ?? Math.max(50, Math.floor(ttlMs / 3));
    this.#retryEveryMs = opts.retryEveryMs ?? Math.max(50, Math.floor(ttlMs / 10));
  }

  /** Opens the leases bucket of `names` and builds a lease with the bucket's TTL. */
  static async open(nc: NatsConnection, names: NatsNames, key: string, opts: LeaseOptions = {}): Promise<Lease> {
    const kv = await new Kvm(nc).open(names.kv.leases);
    const { ttl } = await kv.status();
    return new Lease(kv, key, ttl, opts);
  }

  /** Starts competing for the lease: tries at once, then renews or retries on a timer. */
  start(): this {
    this.#competing = true;
    if (this.#running) return this;
    this.#running = true;
    this.#schedule(0);
    return this;
  }

  /**
   * Tries once to take the lease. When it succeeds the lease renews itself until lost or released;
   * once lost it is not taken again unless asked (for runners that re-decide what to do).
   */
  async tryAcquire(): Promise<boolean> {
    if (this.#running) return this.isHeld();
    this.#competing = false;
    await this.#acquire();
    if (this.#token === 0) return false;
    this.#running = true;
    this.#schedule(this.#renewEveryMs);
    return true;
  }

  /** True while this process holds the lease (renewed within the TTL). */
  isHeld(): boolean {
    return this.#token > 0 && Date.now() - this.#lastRenewAt < this.ttlMs;
  }

  /** The fencing token while held, else 0. Carry it in every command the singleton sends. */
  token(): number {
    return this.isHeld() ? this.#token : 0;
  }

  /** Resolves with the token once held; rejects after `timeoutMs`. */
  async waitUntilHeld(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isHeld()) {
      if (Date.now() > deadline) throw new NotLeaderError(`lease ${this.key} not acquired within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, Math.min(25, this.#retryEveryMs)));
    }
    return this.#token;
  }

  /** Stops competing and, if held, deletes the key so another replica takes over at once. */
  async release(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
    if (this.#token > 0) {
      const revision = this.#revision;
      this.#lose('released');
      // Only our own write is deleted: if someone else holds it by now, the revision differs.
      await this.kv.delete(this.key, { previousSeq: revision }).catch(() => undefined);
    }
  }

  #schedule(ms: number): void {
    if (this.#running && !this.#competing && this.#token === 0) this.#running = false;
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#nextTryMs = this.#retryEveryMs;
      this.#tick = this.#step().finally(() => this.#schedule(this.#token > 0 ? this.#renewEveryMs : this.#nextTryMs));
    }, ms);
  }

  async #step(): Promise<void> {
    if (this.#token > 0) await this.#renew();
    else await this.#acquire();
  }

  async #acquire(): Promise<void> {
    const now = new Date().toISOString();
    try {
      // The token is not known before the write, so the first record carries 0 and the
      // assertion reads the entry's own revision for it (see `currentToken`).
      const revision = await this.kv.create(this.key, JSON.stringify(this.#record(0, now, now)));
      this.#revision = revision;
      this.#token = revision;
      this.#acquiredAt = now;
      this.#lastRenewAt = Date.now();
      this.opts.onAcquired?.(revision);
    } catch {
      // Held by someone else (or NATS unreachable): try again on the next tick, or right when
      // the holder's last write expires if that comes sooner.
      this.#nextTryMs = await this.#untilExpiry().catch(() => this.#retryEveryMs);
    }
  }

  /** Milliseconds until the current holder's last write ages out of the bucket (a little after). */
  async #untilExpiry(): Promise<number> {
    const entry = await this.kv.get(this.key);
    if (!entry) return 0;
    const left = entry.created.getTime() + this.ttlMs - Date.now();
    return Math.min(this.#retryEveryMs, Math.max(MIN_RETRY_MS, left + MIN_RETRY_MS));
  }

  async #renew(): Promise<void> {
    const started = Date.now();
    try {
      this.#revision = await this.kv.update(this.key, JSON.stringify(this.#record(this.#token, this.#acquiredAt, new Date().toISOString())), this.#revision);
      this.#lastRenewAt = started;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 10071 || code === 10164) this.#lose(Date.now() - this.#lastRenewAt >= this.ttlMs ? 'expired' : 'taken');
      else if (Date.now() - this.#lastRenewAt >= this.ttlMs) this.#lose('unreachable');
    }
  }

  #lose(reason: 'expired' | 'taken' | 'released' | 'unreachable'): void {
    this.#token = 0;
    this.#revision = 0;
    this.opts.onLost?.(reason);
  }

  #record(token: number, acquiredAt: string, renewedAt: string): LeaseRecord {
    return { holder: this.holder, token, acquiredAt, renewedAt };
  }
}

/**
 * A function that tries once to take a lease and resolves it while held, else `null` (the shape
 * projection runners take). The leases bucket is opened once.
 */
export function leaseAcquirer(nc: NatsConnection, names: NatsNames, opts: LeaseOptions = {}): (key: string) => Promise<Lease | null> {
  let bucket: Promise<{ kv: KV; ttl: number }> | undefined;
  return async (key) => {
    bucket ??= new Kvm(nc)
      .open(names.kv.leases)
      .then(async (kv) => ({ kv, ttl: (await kv.status()).ttl }))
      .catch((e: unknown) => {
        bucket = undefined;
        throw e;
      });
    const { kv, ttl } = await bucket;
    const lease = new Lease(kv, key, ttl, opts);
    return (await lease.tryAcquire()) ? lease : null;
  };
}

/** The fencing token of whoever holds `key` now, or 0 when nobody does. */
export async function currentToken(kv: KV, key: string): Promise<number> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== 'PUT') return 0;
  const record = entry.json<LeaseRecord>();
  return record.token > 0 ? record.token : entry.revision;
}

/**
 * Refuses a command whose fencing token is not the current holder's: throws `NotLeaderError`
 * (a dead or deposed holder's token, or no holder at all).
 */
export async function assertFencingToken(kv: KV, key: string, token: unknown): Promise<void> {
  const current = await currentToken(kv, key);
  if (typeof token !== 'number' || current === 0 || token !== current) {
    throw new NotLeaderError(`lease ${key}: token ${String(token)} is not the current holder's (${current || 'none'})`, {
      details: { key, token, current },
    });
  }
}
