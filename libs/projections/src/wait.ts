/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import pg from 'pg';
import type { Kysely } from 'kysely';
import { dbInfo, type DbInfo } from './db';
import { CHECKPOINT_CHANNEL, getCheckpoint, type CheckpointNotice } from './checkpoints';

/** Poll period used only when no LISTEN connection is available. */
const POLL_MS = 50;

interface Waiter {
  name: string;
  seq: number;
  /** Called with each announced sequence of `name`; resolves the wait when it is far enough. */
  heard(seq: number): void;
  /** The listener died: fall back to polling for the rest of the wait. */
  lost(): void;
}

/**
 * One LISTEN connection per `createDb` pool, shared by every wait in the process. It is a separate
 * `pg.Client`, not a pool connection, so a small pool is never starved by listeners.
 */
class CheckpointListener {
  readonly waiters = new Set<Waiter>();
  private constructor(
    private readonly schema: string,
    private readonly client: pg.Client,
  ) {}

  static async open(info: DbInfo, onDead: () => void): Promise<CheckpointListener> {
    // Named after the schema, so operators (and a test) can see which deployment listens.
    const client = new pg.Client({ connectionString: info.url, application_name: listenerName(info.schema) });
    const listener = new CheckpointListener(info.schema, client);
    const die = (): void => {
      onDead();
      for (const w of listener.waiters) w.lost();
      listener.waiters.clear();
    };
    client.on('error', die);
    client.on('end', die);
    client.on('notification', (msg) => listener.dispatch(msg.payload));
    await client.connect();
    await client.query(`listen ${CHECKPOINT_CHANNEL}`);
    return listener;
  }

  private dispatch(payload: string | undefined): void {
    if (payload === undefined) return;
    let notice: CheckpointNotice;
    try {
      notice = JSON.parse(payload) as CheckpointNotice;
    } catch {
      return;
    }
    // One channel per database: other schemas (other tests, other deployments) announce here too.
    if (notice.schema !== this.schema) return;
    for (const w of this.waiters) if (w.name === notice.name) w.heard(Number(notice.seq));
  }

  async close(): Promise<void> {
    this.client.removeAllListeners('end');
    this.client.removeAllListeners('error');
    this.client.on('error', () => undefined);
    await this.client.end().catch(() => undefined);
  }
}

/** `application_name` of the LISTEN connection of one schema. */
export function listenerName(schema: string): string {
  return `propeller-listen-${schema}`.slice(0, 63);
}

const listeners = new WeakMap<DbInfo, Promise<CheckpointListener | undefined>>();

function listenerFor(info: DbInfo): Promise<CheckpointListener | undefined> {
  let p = listeners.get(info);
  if (p === undefined) {
    p = CheckpointListener.open(info, () => listeners.delete(info)).then(
      (l) => {
        info.onDestroy.push(() => l.close());
        return l;
      },
      () => {
        // Could not LISTEN (connection limit, ...): this wait polls; a later one tries again.
        listeners.delete(info);
        return undefined;
      },
    );
    listeners.set(info, p);
  }
  return p;
}

/**
 * Read-your-writes: resolves `true` once `projection`'s checkpoint is at least `seq`, `false` after `timeoutMs`
 * (the API then answers 202). Woken by the `pg_notify` sent in the checkpoint's own transaction; a db not made
 * by `createDb`, or a lost LISTEN connection, falls back to polling every 50 ms. `seq` must be an event the
 * projection reads (within its `aggregate` filter, if it has one): its checkpoint only moves over what it reads.
 */
export async function waitForSequence(db: Kysely<any>, projection: string | { name: string }, seq: number, timeoutMs: number): Promise<boolean> {
  const name = typeof projection === 'string' ? projection : projection.name;
  const info = dbInfo(db);
  const listener = info === undefined ? undefined : await listenerFor(info);

  return new Promise<boolean>((resolve, reject) => {
    let done = false;
    let poll: NodeJS.Timeout | undefined;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (listener !== undefined) listener.waiters.delete(waiter);
      resolve(ok);
    };
    const check = (): void => {
      getCheckpoint(db, name).then(
        (cp) => {
          if (cp !== undefined && cp.seq >= seq) finish(true);
        },
        (e: unknown) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          clearInterval(poll);
          if (listener !== undefined) listener.waiters.delete(waiter);
          reject(e);
        },
      );
    };
    const startPolling = (): void => {
      if (!done && poll === undefined) poll = setInterval(check, POLL_MS);
    };
    const waiter: Waiter = { name, seq, heard: (s) => s >= seq && finish(true), lost: startPolling };
    const timer = setTimeout(() => finish(false), timeoutMs);
    // Listen first, then read: a checkpoint committed between the two is caught by one or the other.
    if (listener !== undefined) listener.waiters.add(waiter);
    else startPolling();
    check();
  });
}
