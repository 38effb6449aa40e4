import { randomUUID } from 'node:crypto';
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  HEADER_TYPE,
  eventTypesOf,
  isNotFound,
  livenessKey,
  parseOrThrow,
  parseStoredEvent,
  PropletLivenessSchema,
  type ChannelLayout,
  type CommandDataInput,
  type CommandName,
  type NatsNames,
  type PropletLiveness,
  type StoredEnvelope,
} from '@propeller/events';
import { sendCommand } from '@propeller/eventstore';
import type { Liveness, PropellerChange, PropellerPort, PropletRegistration, PropletState, TaskDefinition, TaskState } from '../port/propeller-port';
import { PropellerView } from '../port/propeller-view';
import { isTerminalTaskStatus } from '../names';
import type { Log } from './operator';

/** Device type of a pre-registration that names none (the gateway's default for a `create` without one). */
export const DEFAULT_PREREGISTERED_DEVICE_TYPE = 'linux';
/** Label that carries `spec.external.endpoint` (the event contract has no endpoint field). */
export const ENDPOINT_LABEL = 'propeller.io/endpoint';

/** Options of `NatsPropellerPort.start`. */
export interface NatsPropellerPortOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** Who writes pod readiness into the liveness KV (the agent's pod name). */
  writer: string;
  /** Topic layout recorded for pre-registered proplets until they register themselves; default `messages`. */
  layout?: ChannelLayout;
  /** How long a command waits for its reply; default 5 000 ms. */
  commandTimeoutMs?: number;
  /** How long a command waits for the view to fold its own events (read your writes); default 2 000 ms. */
  settleTimeoutMs?: number;
  /** How long `start` waits for the view to fold the stored events; default 60 000 ms. */
  catchUpTimeoutMs?: number;
  log?: Log;
  /** Clock of the commands' `issuedAt`; default `new Date()`. */
  now?: () => Date;
}

const FOLLOWED_TYPES = new Set<string>([...eventTypesOf('proplet'), ...eventTypesOf('task')]);
const silent: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The real `PropellerPort`: commands to the registry (`proplet.*`) and scheduler (`task.*`) over
 * NATS request/reply (typed errors kept), state folded from proplet and task events by one ordered
 * consumer into a `PropellerView` (nothing durable: it rebuilds from the log on start), change
 * notifications per folded event, and pod readiness written to `<p>_liveness`.
 *
 * Each command waits until the view has folded the sequence its reply names (up to
 * `settleTimeoutMs`), so the next reconcile plans from what it just did.
 */
export class NatsPropellerPort implements PropellerPort {
  private readonly view = new PropellerView();
  private readonly listeners = new Set<(c: PropellerChange) => void>();
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();
  private position = 0;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private ended = false;
  private readonly log: Log;

  private constructor(
    private readonly o: NatsPropellerPortOptions,
    private readonly kv: KV,
  ) {
    this.log = o.log ?? silent;
  }

  /** Opens the liveness bucket, starts following the events and resolves once the stored ones are folded. */
  static async start(o: NatsPropellerPortOptions): Promise<NatsPropellerPort> {
    const kv = await new Kvm(o.nc).open(o.names.kv.liveness);
    const port = new NatsPropellerPort(o, kv);
    await port.follow();
    return port;
  }

  /** Stops following the events (commands still work; the view stops moving). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await this.loop?.catch(() => undefined);
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
  }

  /** False once the event consumer ended without `stop` (the view no longer moves): a health check. */
  get following(): boolean {
    return !this.ended;
  }

  /** Stream sequence of the last event folded into the view. */
  get sequence(): number {
    return this.position;
  }

  private async follow(): Promise<void> {
    const { nc, names } = this.o;
    const info = await (await jetstreamManager(nc)).streams.info(names.stream);
    const stored = info.state.last_seq;
    // An ordered consumer: in order, nothing durable, re-created by the client after a gap.
    const consumer = await jetstream(nc).consumers.get(names.stream, { filter_subjects: names.streamSubjects, deliver_policy: DeliverPolicy.All });
    this.messages = await consumer.consume();
    const messages = this.messages;
    this.loop = (async () => {
      for await (const m of messages) {
        const type = m.headers?.get(HEADER_TYPE);
        if (type !== undefined && FOLLOWED_TYPES.has(type)) {
          try {
            const change = this.view.apply(parseStoredEvent({ ...m.json<StoredEnvelope>(), seq: m.seq }));
            if (change) this.emit(change);
          } catch (e) {
            // The view keeps what it knows; a bad event is reported, never fatal to the operator.
            this.log.error({ seq: m.seq, type, err: e instanceof Error ? e.message : String(e) }, 'event not folded into the view');
          }
        }
        this.position = m.seq;
        for (const w of this.waiters) {
          if (w.seq <= m.seq) {
            this.waiters.delete(w);
            w.resolve();
          }
        }
      }
    })().finally(() => {
      if (this.stopping) return;
      this.ended = true;
      this.log.error({ at: this.position }, 'the event consumer ended; the Propeller view no longer moves');
    });
    if (!(await this.reach(stored, this.o.catchUpTimeoutMs ?? 60_000))) {
      await this.stop();
      throw new Error(`the event view did not reach sequence ${stored} of ${names.stream} in time (at ${this.position})`);
    }
    this.log.info({ seq: stored, ...this.view.size() }, 'Propeller view caught up');
  }

  /** Resolves true once the view has folded `seq`, false after `timeoutMs`. */
  private reach(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.position >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.position >= seq);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private emit(change: PropellerChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (e) {
        this.log.warn({ change, err: e instanceof Error ? e.message : String(e) }, 'change listener failed');
      }
    }
  }

  /** Sends one command and waits (bounded) until the view has folded what it appended. */
  private async send<N extends CommandName>(name: N, data: CommandDataInput<N>): Promise<void> {
    const [aggregate, command] = name.split('.') as [string, string];
    const meta = { correlationId: randomUUID(), issuedAt: (this.o.now?.() ?? new Date()).toISOString() };
    const reply = await sendCommand(this.o.nc, this.o.names, aggregate, command, { meta, data }, { timeoutMs: this.o.commandTimeoutMs ?? 5_000 });
    if (!(await this.reach(reply.lastSequence, this.o.settleTimeoutMs ?? 2_000))) {
      this.log.warn({ command: name, seq: reply.lastSequence, at: this.position }, 'the event view lags behind a command; planning goes on from the older view');
    }
  }

  /**
   * Pre-registers (`origin: operator`) a proplet the registry does not know or deregistered, then
   * records the CR's declared fields as operator overrides (`proplet.label`), so they win over what
   * the device reports later. A known proplet whose owner is another CR is re-owned (`proplet.update`).
   */
  async registerProplet(r: PropletRegistration): Promise<void> {
    const known = this.view.proplet(r.id);
    const deviceType = r.deviceType ?? DEFAULT_PREREGISTERED_DEVICE_TYPE;
    if (known === undefined || known.health === 'deregistered') {
      await this.send('proplet.register', {
        propletId: r.id,
        origin: 'operator',
        type: r.type,
        deviceType,
        capabilities: r.capabilities,
        labels: r.endpoint !== undefined ? { ...r.labels, [ENDPOINT_LABEL]: r.endpoint } : r.labels,
        capacity: r.capacity,
        // PROTOCOL.md "Derivation": ESP32 device types speak the WAMR dialect. The device's own
        // `create` replaces dialect and channel with what it really uses.
        dialect: deviceType.toLowerCase().startsWith('esp32') ? 'wamr' : 'wasmtime',
        channel: { domainId: r.connection.domainId, channelId: r.connection.channelId, layout: this.o.layout ?? 'messages', perPropletTopics: false },
        metadata: {},
        owner: r.owner,
      });
    } else if (this.view.propletOwner(r.id)?.uid !== r.owner.uid) {
      await this.send('proplet.update', { propletId: r.id, owner: r.owner });
    }
    // `null` clears an override, so a field the CR stops declaring returns to the device's value.
    // An empty list or map counts as "not declared" (the CR shape cannot tell them apart).
    const hasLabels = Object.keys(r.labels).length > 0;
    const hasCapacity = Object.keys(r.capacity).length > 0;
    await this.send('proplet.label', {
      propletId: r.id,
      labels: hasLabels ? r.labels : null,
      capacity: hasCapacity ? r.capacity : null,
      deviceType: r.deviceType ?? null,
      capabilities: r.capabilities.length > 0 ? r.capabilities : null,
    });
  }

  /** Deregisters at once; a proplet the registry never knew is already gone (no error). */
  async deregisterProplet(propletId: string, reason: string): Promise<void> {
    try {
      await this.send('proplet.deregister', { propletId, reason });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** `task.create` keyed by the id the CR's uid gives; the scheduler answers a same-spec repeat with no event. */
  async createTask(t: TaskDefinition): Promise<void> {
    await this.send('task.create', {
      taskId: t.id,
      name: t.name,
      functionName: t.functionName,
      ...(t.imageUrl !== undefined ? { imageUrl: t.imageUrl } : {}),
      ...(t.file !== undefined ? { file: t.file } : {}),
      inputs: t.inputs,
      cliArgs: t.cliArgs,
      env: t.env,
      daemon: t.daemon,
      propletSelector: t.propletSelector,
      preferredPropletType: t.preferredPropletType,
      resourceRequirements: t.resourceRequirements,
      owner: t.owner,
    } as CommandDataInput<'task.create'>);
  }

  async startTask(taskId: string): Promise<void> {
    await this.send('task.start', { taskId });
  }

  /**
   * Stops an unfinished task. One the view already shows finished is left alone (the scheduler would
   * answer `Conflict` for a completed or failed one); if it finishes while the stop is on its way,
   * that `Conflict` is thrown and the retried reconcile then sees it finished.
   */
  async stopTask(taskId: string, reason: string): Promise<void> {
    const known = this.view.task(taskId);
    if (known && isTerminalTaskStatus(known.status)) return;
    await this.send('task.stop', { taskId, reason });
  }

  async getProplet(propletId: string): Promise<PropletState | undefined> {
    return this.view.proplet(propletId);
  }

  async getTask(taskId: string): Promise<TaskState | undefined> {
    return this.view.task(taskId);
  }

  subscribe(listener: (change: PropellerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Pod readiness as a `PropletLiveness` (`source: podReadiness`); the health monitor judges it. */
  async writeLiveness(propletId: string, liveness: Liveness): Promise<void> {
    const value: PropletLiveness = parseOrThrow(
      PropletLivenessSchema,
      { status: liveness.status, at: liveness.at, source: 'podReadiness', writer: this.o.writer },
      'pod liveness',
    );
    await this.kv.put(livenessKey(propletId), JSON.stringify(value));
  }
}
