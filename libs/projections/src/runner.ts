/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import { Gauge, type Registry } from 'prom-client';
import type { Kysely } from 'kysely';
import { jetstream, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Lease, serveAdminRequests, typeHeader, type RecentEvents } from '@propeller/eventstore';
import { InvalidError, NotFoundError, NotLeaderError, type NatsNames, type StoredEnvelope } from '@propeller/events';
import { advanceCheckpoint, ensureCheckpoint, getCheckpoint, markStalled, resetCheckpoint, CheckpointMovedError } from './checkpoints';
import { isValidProjectionName, type Projection } from './projection';
import { isTransientDbError as isTransient } from './transient';

/** Largest number of events applied in one transaction (ARCHITECTURE.md: up to 500). */
export const DEFAULT_BATCH_SIZE = 500;
/** Name of the gauge that is 1 while a projection is stalled. */
export const STALLED_METRIC = 'propeller_projection_stalled';
/** Name of the gauge holding the last stream sequence a projection applied (compare with the stream's last for lag). */
export const CHECKPOINT_METRIC = 'propeller_projection_checkpoint';

/** The part of the eventstore's `Lease` a runner uses: compete, ask whether held, let go. */
export interface RunnerLease {
  start(): unknown;
  isHeld(): boolean;
  release(): Promise<void>;
}

/** Minimal structured logger (pino's shape). */
export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of `ProjectionRunner`. */
export interface ProjectionRunnerOptions {
  nc: NatsConnection;
  names: NatsNames;
  db: Kysely<any>;
  projections: ReadonlyArray<Projection<any>>;
  /** Opens the lease `projection.<name>`; default the eventstore's `Lease` in the leases bucket (TTL = the bucket's). */
  openLease?: (key: string) => Promise<RunnerLease>;
  /** Registry the `propeller_projection_stalled{projection}` gauge is registered in. */
  registry: Registry;
  /** Events per transaction; default 500. */
  batchSize?: number;
  /** How often a standby instance checks the lease (and re-reads the checkpoint for `health()`); default 1000 ms. */
  standbyPollMs?: number;
  /** Backoff after a transient failure (database or NATS unreachable); default 1000 ms. */
  retryMs?: number;
  /** Turns a stored event into the current schema (upcasting); default: as stored. */
  decode?: (event: StoredEnvelope) => StoredEnvelope;
  /** Events this process appended, read from memory instead of decoded (`RecentEvents` of the eventstore; default none). */
  recent?: Pick<RecentEvents, 'read'>;
  logger?: RunnerLogger;
}

/** `running` applies events; `standby` waits for the lease; `stalled` stopped on an event; `stopped` is not started. */
export type ProjectionState = 'stopped' | 'standby' | 'running' | 'stalled';

/** One projection as `health()` reports it. */
export interface ProjectionHealth {
  name: string;
  state: ProjectionState;
  /** Last applied stream sequence as last seen by this instance. */
  seq: number;
  /** Why it is stalled: the event's sequence and type, and the error. */
  reason?: string;
}

/** `degraded` as soon as one projection is stalled; `reason` lists them. */
export interface RunnerHealth {
  status: 'ok' | 'degraded';
  reason?: string;
  projections: ProjectionHealth[];
}

/** An event `apply` threw on: carries where it stopped. */
export class ProjectionApplyError extends Error {
  constructor(
    readonly projection: string,
    readonly seq: number,
    readonly eventType: string | undefined,
    cause: unknown,
  ) {
    super(`projection ${projection} cannot apply event ${seq} (${eventType ?? 'no type'}): ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'ProjectionApplyError';
  }
}

/** Wakes one waiting task; a `notify` with nobody waiting is a no-op (waiters re-check their condition). */
class Signal {
  private resolve: (() => void) | undefined;
  wait(): Promise<void> {
    return new Promise((r) => (this.resolve = r));
  }
  notify(): void {
    const r = this.resolve;
    this.resolve = undefined;
    r?.();
  }
}

/** `batch`: the projection's `applyBatch` over the whole batch; `each`: its `apply`, event by event. */
type ApplyMode = 'batch' | 'each';

/** `applyBatch` threw: which event is at fault is not known; the runner retries the batch event by event. */
class BatchApplyError extends Error {
  constructor(cause: unknown) {
    super(`batch apply failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BatchApplyError';
  }
}

const noopLogger: RunnerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Runs projections from the event stream into Postgres: for each, one active instance (the lease
 * `projection.<name>`), an ordered consumer from checkpoint + 1, up to `batchSize` events per transaction with the
 * checkpoint moved in the same transaction. An event `apply` throws on stalls that projection (never skipped).
 */
export class ProjectionRunner {
  private readonly workers = new Map<string, Worker>();
  private readonly stalled: Gauge<'projection'>;
  private readonly checkpoint: Gauge<'projection'>;

  constructor(private readonly options: ProjectionRunnerOptions) {
    if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1)) {
      throw InvalidError.field('batchSize', options.batchSize, 'must be an integer >= 1');
    }
    // Several runners may share one registry (one per service): reuse a gauge another runner registered.
    const gauge = (name: string, help: string): Gauge<'projection'> =>
      (options.registry.getSingleMetric(name) as Gauge<'projection'> | undefined) ??
      new Gauge({ name, help, labelNames: ['projection'], registers: [options.registry] });
    this.stalled = gauge(STALLED_METRIC, '1 while a projection is stopped on an event it cannot apply');
    this.checkpoint = gauge(CHECKPOINT_METRIC, 'Last stream sequence a projection applied, as seen by this instance');
    for (const p of options.projections) {
      if (!isValidProjectionName(p.name)) throw InvalidError.field('projection.name', p.name, 'must be 1-100 characters of [A-Za-z0-9_-]');
      if (this.workers.has(p.name)) throw InvalidError.field('projection.name', p.name, 'must be unique');
      this.workers.set(p.name, new Worker(p, options, this.stalled, this.checkpoint));
    }
  }

  /** Starts every projection; each runs once it holds its lease. Resolves at once. */
  start(): void {
    for (const w of this.workers.values()) w.start();
  }

  /** Stops every projection (an open batch is rolled back, nothing half-applied) and releases the leases. */
  async stop(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }

  /**
   * Rebuilds one projection: stops it, empties it with `reset` and sets its checkpoint to 0 in one transaction,
   * then replays from the start of the stream. Resolves once the replay has started. Only the lease holder can.
   */
  async rebuild(name: string): Promise<void> {
    await this.worker(name).rebuild();
  }

  /** The state of one projection on this instance. */
  state(name: string): ProjectionHealth {
    return this.worker(name).health();
  }

  /** Whether this instance holds the lease of a projection (only the holder can rebuild it). */
  holdsLease(name: string): boolean {
    return this.worker(name).holdsLease();
  }

  /** The names of the projections this runner runs. */
  get names(): string[] {
    return [...this.workers.keys()];
  }

  /** `degraded` with the reason while any projection is stalled, else `ok`. */
  health(): RunnerHealth {
    const projections = [...this.workers.values()].map((w) => w.health());
    const stalled = projections.filter((p) => p.state === 'stalled');
    if (stalled.length === 0) return { status: 'ok', projections };
    return { status: 'degraded', reason: stalled.map((p) => `projection ${p.name} stalled: ${p.reason ?? 'unknown'}`).join('; '), projections };
  }

  private worker(name: string): Worker {
    const w = this.workers.get(name);
    if (w === undefined) throw new NotFoundError(`no projection ${name} in this runner`);
    return w;
  }
}

/** One projection's loop: standby until the lease, then consume and apply; stalls on an apply error. */
class Worker {
  private state: ProjectionState = 'stopped';
  private seqValue = 0;
  private reason: string | undefined;
  private lease: RunnerLease | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly types: ReadonlySet<string> | undefined;
  private readonly log: RunnerLogger;
  private readonly batchSize: number;
  private readonly decode: (event: StoredEnvelope) => StoredEnvelope;

  constructor(
    private readonly projection: Projection<any>,
    private readonly o: ProjectionRunnerOptions,
    private readonly stalledGauge: Gauge<'projection'>,
    private readonly checkpointGauge: Gauge<'projection'>,
  ) {
    this.types = projection.types === undefined ? undefined : new Set(projection.types);
    this.log = o.logger ?? noopLogger;
    this.batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
    this.decode = o.decode ?? ((e) => e);
    stalledGauge.set({ projection: projection.name }, 0);
  }

  private get seq(): number {
    return this.seqValue;
  }

  private set seq(value: number) {
    this.seqValue = value;
    this.checkpointGauge.set({ projection: this.projection.name }, value);
  }

  health(): ProjectionHealth {
    const h: ProjectionHealth = { name: this.projection.name, state: this.state, seq: this.seq };
    if (this.reason !== undefined) h.reason = this.reason;
    return h;
  }

  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
    });
  }

  async stop(options: { keepLease?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    this.wake?.();
    await this.loop;
    if (!options.keepLease && this.lease !== undefined) {
      await this.lease.release().catch((e: unknown) => this.log.warn({ err: e, projection: this.projection.name }, 'lease release failed'));
      this.lease = undefined;
    }
    if (this.state !== 'stalled') this.state = 'stopped';
  }

  holdsLease(): boolean {
    return this.lease?.isHeld() ?? false;
  }

  async rebuild(): Promise<void> {
    if (this.lease === undefined || !this.lease.isHeld()) {
      throw new NotLeaderError(`projection ${this.projection.name} is rebuilt by the instance holding its lease`);
    }
    await this.stop({ keepLease: true });
    await this.o.db.transaction().execute(async (trx) => {
      await this.projection.reset(trx);
      await resetCheckpoint(trx, this.projection.name);
    });
    this.seq = 0;
    this.reason = undefined;
    this.state = 'stopped';
    this.stalledGauge.set({ projection: this.projection.name }, 0);
    this.log.info({ projection: this.projection.name }, 'projection reset, replaying from the start');
    this.start();
  }

  private async run(): Promise<void> {
    const name = this.projection.name;
    while (!this.stopping) {
      try {
        if (this.lease === undefined) {
          const key = `projection.${name}`;
          // The default lease wakes the standby pause the moment it is acquired, so start-up does not wait a poll.
          const open = this.o.openLease ?? ((k: string) => Lease.open(this.o.nc, this.o.names, k, { onAcquired: () => this.wake?.() }));
          const lease = await open(key);
          if (this.stopping) {
            await lease.release();
            break;
          }
          this.lease = lease;
          lease.start();
        }
        if (!this.lease.isHeld()) {
          this.state = 'standby';
          await this.observeFromStandby();
          await this.pause(this.o.standbyPollMs ?? 1000);
          continue;
        }
        this.log.info({ projection: name }, 'projection lease held, running');
        const cp = await ensureCheckpoint(this.o.db, name);
        this.seq = cp.seq;
        this.state = 'running';
        this.reason = undefined;
        this.stalledGauge.set({ projection: name }, 0);
        await this.consume();
        if (!this.stopping && this.lease?.isHeld()) {
          // The message stream ended by itself (consumer deleted under us): start over from the checkpoint, not in a tight loop.
          this.log.warn({ projection: name }, 'projection consumer ended, restarting');
          await this.pause(this.o.retryMs ?? 1000);
        }
      } catch (e) {
        if (this.stopping) break;
        if (e instanceof ProjectionApplyError && !isTransient(e.cause)) {
          await this.stall(e);
          return;
        }
        if (e instanceof CheckpointMovedError) {
          // Someone else wrote our checkpoint: we are not the only instance any more. Step back and compete again.
          this.log.warn({ projection: name }, e.message);
          await this.lease?.release().catch(() => undefined);
          this.lease = undefined;
        } else {
          this.log.warn({ projection: name, err: e }, 'projection interrupted, retrying');
        }
        await this.pause(this.o.retryMs ?? 1000);
      }
    }
  }

  /** Reads from checkpoint + 1 until stopped, the lease is lost, or an error. */
  private async consume(): Promise<void> {
    const js = jetstream(this.o.nc);
    const consumer = await js.consumers.get(this.o.names.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.seq + 1,
      ...(this.projection.aggregate === undefined ? {} : { filter_subjects: this.o.names.eventFilter(this.projection.aggregate) }),
    });
    const messages = await consumer.consume({ max_messages: Math.min(this.batchSize, 1000) });
    this.messages = messages;
    // An idle consumer sees no message to check the lease on: stop it when the lease goes, so the loop steps back.
    const watch = setInterval(() => {
      if (!this.lease?.isHeld()) messages.stop();
    }, this.o.standbyPollMs ?? 1000);
    // Reading and applying overlap: the reader moves messages from the consumer into `buffer` (which keeps the
    // consumer pulling) while the writer applies the previous batch; the writer then takes everything that
    // arrived meanwhile, up to `batchSize`. The reader pauses at two batches ahead, so memory stays bounded.
    const buffer: JsMsg[] = [];
    let ended = false;
    let readError: unknown;
    const writer = new Signal();
    const reader = new Signal();
    const reading = (async () => {
      try {
        for await (const m of messages) {
          buffer.push(m);
          writer.notify();
          while (buffer.length >= 2 * this.batchSize && !ended) await reader.wait();
        }
      } catch (e) {
        readError = e;
      } finally {
        ended = true;
        writer.notify();
      }
    })();
    // A batch is ready when full, or when its last message had nothing after it on the server (`pending` 0): catch-up
    // runs in big transactions, and a live stream commits at once whatever arrived while the last batch was applied.
    const ready = (): boolean => buffer.length >= this.batchSize || (buffer.length > 0 && (buffer[buffer.length - 1] as JsMsg).info.pending === 0);
    try {
      if (this.stopping) return;
      for (;;) {
        while (!ended && !ready()) await writer.wait();
        if (ended || this.stopping) break;
        if (this.lease === undefined || !this.lease.isHeld()) {
          // The lease keeps competing in the background; the loop goes back to standby until it is held again.
          this.log.warn({ projection: this.projection.name }, 'projection lease lost, stepping back');
          return;
        }
        const batch = buffer.splice(0, this.batchSize);
        reader.notify();
        await this.flush(batch);
      }
      if (readError !== undefined && !this.stopping) throw readError;
    } finally {
      clearInterval(watch);
      messages.stop();
      ended = true;
      reader.notify();
      await reading;
      this.messages = undefined;
    }
  }

  /**
   * Applies a batch and moves the checkpoint in one transaction. When an event throws, the transaction rolls back;
   * the events before it are then committed on their own, so the projection stops exactly at the poisoned event.
   * A projection with `applyBatch` gets the whole batch at once; if that throws (other than a connection failure),
   * the batch is applied again event by event with `apply`, which finds the event to stop at.
   */
  private async flush(batch: JsMsg[]): Promise<void> {
    try {
      try {
        await this.applyBatch(batch, this.projection.applyBatch === undefined ? 'each' : 'batch');
      } catch (e) {
        if (!(e instanceof BatchApplyError)) throw e;
        if (isTransient(e.cause)) throw e.cause;
        this.log.warn(
          { projection: this.projection.name, from: batch[0]?.seq, to: batch[batch.length - 1]?.seq, err: e.cause },
          'projection batch failed, applying it event by event',
        );
        await this.applyBatch(batch, 'each');
      }
    } catch (e) {
      if (!(e instanceof ProjectionApplyError) || isTransient(e.cause)) throw e;
      // Commit what precedes the failing event (a flush of its own: batched again if the projection can).
      const before = batch.findIndex((m) => m.seq === e.seq);
      if (before > 0) await this.flush(batch.slice(0, before));
      throw e;
    }
  }

  private async applyBatch(batch: JsMsg[], mode: ApplyMode): Promise<void> {
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    const from = this.seq;
    const name = this.projection.name;
    await this.o.db.transaction().execute(async (trx) => {
      const events: StoredEnvelope[] = [];
      for (const m of batch) {
        const type = typeHeader(m) || undefined;
        // Unwanted types are skipped on the header alone; the checkpoint still moves past them below.
        if (this.types !== undefined && (type === undefined || !this.types.has(type))) continue;
        try {
          // Appended by this process a moment ago: checked already, not decoded again.
          const event = this.o.recent?.read(m) ?? this.decode({ ...m.json<StoredEnvelope>(), seq: m.seq });
          if (mode === 'each') await this.projection.apply(trx, event);
          else events.push(event);
        } catch (e) {
          throw new ProjectionApplyError(name, m.seq, type, e);
        }
      }
      if (events.length > 0 && this.projection.applyBatch !== undefined) {
        try {
          await this.projection.applyBatch(trx, events);
        } catch (e) {
          throw new BatchApplyError(e);
        }
      }
      await advanceCheckpoint(trx, name, from, last.seq);
    });
    this.seq = last.seq;
  }

  private async stall(e: ProjectionApplyError): Promise<void> {
    const name = this.projection.name;
    this.state = 'stalled';
    this.reason = e.message;
    this.stalledGauge.set({ projection: name }, 1);
    this.log.error({ projection: name, seq: e.seq, type: e.eventType, err: e.cause }, 'projection stalled');
    try {
      await markStalled(this.o.db, name, e.message);
    } catch (err) {
      this.log.error({ projection: name, err }, 'could not record the stall in the checkpoint row');
    }
    // The lease stays held: another instance would stall on the same event. An operator fixes and restarts or rebuilds.
  }

  /** A standby instance mirrors the holder's stall from the checkpoint row, so every replica's health shows it. */
  private async observeFromStandby(): Promise<void> {
    const cp = await getCheckpoint(this.o.db, this.projection.name);
    if (cp === undefined) return;
    this.seq = cp.seq;
    const stalled = cp.status === 'stalled';
    this.reason = stalled ? (cp.error ?? 'stalled') : undefined;
    this.state = stalled ? 'stalled' : 'standby';
    this.stalledGauge.set({ projection: this.projection.name }, stalled ? 1 : 0);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** `/health` check of a runner: `pass`, or `degraded` naming the stalled projections. */
export function projectionsCheck(runner: ProjectionRunner): () => { status: 'pass' } | { status: 'degraded'; detail: string } {
  return () => {
    const h = runner.health();
    return h.status === 'ok' ? { status: 'pass' } : { status: 'degraded', detail: h.reason ?? 'stalled' };
  };
}

/** A started runner that also answers the API's rebuild requests for its projections. */
export interface ServedProjections {
  readonly runner: ProjectionRunner;
  /** Stops answering rebuild requests, then stops the runner (releasing its leases). */
  stop(): Promise<void>;
}

/** `ProjectionRunnerOptions` whose optional settings may be passed through as `undefined` (= the default). */
export type ServeProjectionsOptions = Omit<ProjectionRunnerOptions, 'logger' | 'standbyPollMs' | 'retryMs'> & {
  logger?: RunnerLogger | undefined;
  standbyPollMs?: number | undefined;
  retryMs?: number | undefined;
};

/**
 * Starts a runner for a service's projections and answers the API's rebuild requests for them
 * (ADR 0019: every replica listens, only the lease holder answers): what every service with a read
 * model does.
 */
export function serveProjections(o: ServeProjectionsOptions): ServedProjections {
  const { logger, standbyPollMs, retryMs, ...rest } = o;
  const runner = new ProjectionRunner({
    ...rest,
    ...(logger ? { logger } : {}),
    ...(standbyPollMs === undefined ? {} : { standbyPollMs }),
    ...(retryMs === undefined ? {} : { retryMs }),
  });
  runner.start();
  const stopAdmin = serveAdminRequests(o.nc, o.names, {
    rebuild: { names: runner.names, rebuild: (name) => runner.rebuild(name), holdsLease: (name) => runner.holdsLease(name) },
  });
  return {
    runner,
    async stop() {
      await stopAdmin();
      await runner.stop();
    },
  };
}
