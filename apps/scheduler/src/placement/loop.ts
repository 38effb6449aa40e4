import { randomUUID } from 'node:crypto';
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  LEASE_NAMES,
  MAX_EXPLANATION_CHARS,
  PROPLET_LIVENESS_FILTER,
  PropletLivenessSchema,
  decodeKvToken,
  isConflict,
  isInvalid,
  isNotFound,
  isNotLeader,
  parseStoredEvent,
  type NatsNames,
  type PropletEvent,
  type StoredEnvelope,
  type TaskEvent,
} from '@propeller/events';
import { Lease, decodeEnvelope, sendCommand, type CommandResult, type RecentEvents } from '@propeller/eventstore';
import { startFitsWamr } from '@propeller/mqtt-protocol';
import {
  CapacityLedger,
  PendingQueue,
  explanationText,
  initialPolicyState,
  matchProplet,
  parseRequirements,
  place,
  reasonKeys,
  sameReasons,
  type ParsedRequirements,
  type PolicyName,
  type PolicyState,
  type SchedulingTask,
} from '@propeller/scheduling';
import { TIMEOUT_REASON_PREFIX, taskDecider } from '../task/decider';
import { isFinished, isLive, isPlaced, type LiveTask, type RunningTask, type ScheduledTask, type TaskState } from '../task/state';
import type { TaskSpec } from '../task/types';
import { PropletDirectory } from './proplets';

/** Minimal structured logger (pino's shape). */
export interface LoopLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of the placement loop. */
export interface PlacementLoopOptions {
  nc: NatsConnection;
  names: NatsNames;
  /** `SCHEDULER_TYPE` (default `hybrid`). */
  policy?: PolicyName;
  computeKeywords?: readonly string[];
  edgeKeywords?: readonly string[];
  loadBalancingRatio?: number;
  /** `healthMonitor.autoEvacuateTasks` (default true): move the tasks of a failed or deregistered proplet. */
  autoEvacuateTasks?: boolean;
  /** Commands in flight at once (default 256). */
  maxInFlight?: number;
  /** Reply timeout of each command the loop sends (default 5 s). */
  commandTimeoutMs?: number;
  /** Who holds the lease, for operators (default `<hostname>/<pid>`). */
  holder?: string;
  logger?: LoopLogger;
  /** Called by the active loop when a task ends, with its status and seconds from start request to end. */
  onFinished?: (status: 'completed' | 'failed' | 'stopped', seconds: number) => void;
  /** Random numbers for `hybrid` (default `Math.random`). */
  random?: () => number;
  /** `TASK_RETENTION` in ms: a task finished this long ago is archived and its subject purged (default: never). */
  retentionMs?: number;
  /** Resolves true once the `tasks` read model has applied `seq`; the subject of an archived task is purged only then. */
  projected?: (seq: number) => Promise<boolean>;
  /** Purges one task's events (`EventStore.purge`). */
  purge?: (taskId: string) => Promise<unknown>;
  /**
   * Runs a task command in this process (`TaskCommands.execute`) instead of sending it over NATS; the
   * scheduler service wires it so the loop's own commands cost no round trip (default: `sendCommand`).
   */
  execute?: (command: string, request: unknown) => Promise<CommandResult>;
  /** Events this process appended, read from memory instead of decoded (`RecentEvents`; default none). */
  recent?: Pick<RecentEvents, 'read'>;
  /** Called when this replica becomes active (it then serves the leader subjects) and when it steps back. */
  onActive?: () => void;
  onInactive?: () => void;
}

/** What the loop reports about itself (tests, `/health`). */
export interface PlacementLoopStats {
  /** This replica holds the `scheduler` lease and has rebuilt its state. */
  active: boolean;
  /** Stream sequence of the last event folded. */
  seq: number;
  queued: number;
  reserved: number;
  timers: number;
  inFlight: number;
  /** Commands being sent (or waiting for a slot) right now. */
  sending: number;
  /** Unfinished tasks held (with their state). */
  live: number;
  /** Finished tasks waiting for their archive (`TASK_RETENTION`): an id and a due time each, no state. */
  awaitingArchive: number;
}

const noopLogger: LoopLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const MAX_TIMER_MS = 2 ** 31 - 1;
const SEND_TRIES = 3;
/** Archives one retention sweep sends before it yields to the event loop. */
const RETENTION_SWEEP_MAX = 500;

type Placed = ScheduledTask | RunningTask;
const FINISHED = new Set(['TaskCompleted', 'TaskFailed', 'TaskStopped']);

/**
 * The scheduler's placement loop (ARCHITECTURE.md "Scheduling", "Singletons"). Every replica folds
 * the whole event log with one ordered consumer (tasks with the decider's own `evolve`, proplets
 * into a `PropletDirectory`, site breakers), so a standby is warm; only the replica holding the
 * `scheduler` lease acts. On taking the lease it waits until it has folded the log up to its end,
 * rebuilds the capacity ledger, the pending queue and the attempt timers from what it folded, then
 * reacts to each event: `TaskStarted` (or a `TaskCreated` with `startedAt`) and `TaskEvacuated` place a task (`task.schedule` or
 * `task.recordUnschedulable`, fenced with the lease token); a proplet that joins, recovers, changes
 * or frees capacity is tested alone against the queue (`matchProplet`) — no polling; a proplet that
 * fails or leaves has its tasks evacuated unless its site's evacuation is paused.
 *
 * Capacity is reserved when the decision is made, before the command is sent, so concurrent
 * decisions never overfill a proplet; a refused command releases it.
 */
export class PlacementLoop {
  private readonly log: LoopLogger;
  private readonly directory = new PropletDirectory();
  private readonly tasks = new Map<string, LiveTask>();
  /** Unfinished tasks placed on each proplet (from the folded events). */
  private readonly onProplet = new Map<string, Set<string>>();
  /** Proplets where an attempt of the task timed out: its next attempt goes elsewhere if it can. */
  private readonly timedOutOn = new Map<string, Set<string>>();
  private readonly pausedSites = new Set<string>();
  private readonly schedulingTasks = new Map<string, SchedulingTask>();

  private ledger = new CapacityLedger();
  private queue = new PendingQueue();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /**
   * Finished tasks awaiting their archive, by id, with when it is due (`finishedAt` + retention), in fold
   * order (every replica keeps it, for a takeover). Only this: a finished task's state is not kept, so
   * memory per finished task is one entry, not its spec, state and a timer.
   */
  private readonly finished = new Map<string, number>();
  /** Archives sent and not folded yet (the sweep skips them). */
  private readonly archiving = new Set<string>();
  /** The one timer of the retention sweep (while active). */
  private retentionTimer: NodeJS.Timeout | undefined;
  /** Archived tasks whose subject is not purged yet, with the sequence of their `TaskArchived`. */
  private readonly toPurge = new Map<string, number>();
  /** `task.schedule` commands in flight, by task, with what they will have appended. */
  private readonly inFlight = new Map<string, Promise<CommandResult | undefined>>();
  /** Tasks placed inside their start command, by attempt, until the fold catches up with their `TaskScheduled`. */
  private readonly placedAhead = new Map<string, number>();
  private policyState: PolicyState = initialPolicyState();
  private active = false;
  private token = 0;
  private seq = 0;
  private lease: Lease | undefined;
  private messages: ConsumerMessages | undefined;
  private following: Promise<void> | undefined;
  private liveness: { stop(): void } | undefined;
  private listening: Promise<void> | undefined;
  private stopping = false;
  private sending = 0;
  private readonly sendQueue: Array<() => void> = [];

  constructor(private readonly o: PlacementLoopOptions) {
    this.log = o.logger ?? noopLogger;
  }

  /** Starts folding the log and competing for the lease. Resolves once the consumer is open. */
  async start(): Promise<void> {
    const js = jetstream(this.o.nc);
    const consumer = await js.consumers.get(this.o.names.stream, { deliver_policy: DeliverPolicy.All, filter_subjects: this.o.names.streamSubjects });
    this.messages = await consumer.consume({ max_messages: 1000 });
    const messages = this.messages;
    const recent = this.o.recent;
    this.following = (async () => {
      for await (const m of messages) {
        try {
          this.onEvent(recent?.read(m) ?? decodeEnvelope(m.data, m.seq));
        } catch (e) {
          // A background handler never crashes its loop (STYLE.md rule 9): log and go on.
          this.log.error({ err: e, seq: m.seq }, 'placement loop cannot fold an event');
        }
        this.seq = m.seq;
      }
    })();
    await this.watchLiveness();
    this.lease = await Lease.open(this.o.nc, this.o.names, LEASE_NAMES.scheduler, {
      ...(this.o.holder ? { holder: this.o.holder } : {}),
      onAcquired: (token) => void this.takeOver(token),
      onLost: (reason) => this.stepBack(reason),
    });
    this.lease.start();
  }

  /** Stops acting, releases the lease (another replica takes over at once) and stops folding. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stepBack('released');
    await this.lease?.release();
    this.messages?.stop();
    this.liveness?.stop();
    await this.following;
    await this.listening;
  }

  /**
   * Follows the liveness KV for when WAMR devices were last heard (the WAMR shared-channel rule: a
   * device heard in the last 30 s runs every start on its channel). Heartbeats are never events, and
   * this only reads them; the health judgement stays the health monitor's.
   */
  private async watchLiveness(): Promise<void> {
    const kv = await new Kvm(this.o.nc).open(this.o.names.kv.liveness);
    const watch = await kv.watch({ key: PROPLET_LIVENESS_FILTER });
    this.liveness = watch;
    this.listening = (async () => {
      for await (const entry of watch as AsyncIterable<KvWatchEntry>) {
        if (entry.operation !== 'PUT') continue;
        try {
          const live = PropletLivenessSchema.parse(entry.json());
          if (live.status === 'alive') this.directory.heard(decodeKvToken(entry.key.slice('proplet.'.length)), Date.parse(live.at));
        } catch (e) {
          this.log.warn({ err: e, key: entry.key }, 'ignoring a liveness entry the scheduler cannot read');
        }
      }
    })();
  }

  /** True while this replica holds the lease and acts on events. */
  isActive(): boolean {
    return this.active && (this.lease?.isHeld() ?? false);
  }

  /** True while this replica is active under this fencing token (the check of its in-process commands). */
  holds(token: number): boolean {
    return token !== 0 && token === this.token && this.isActive();
  }

  /**
   * Places a task that a start command has just made `pending`, inside that command (ARCHITECTURE.md
   * "Scheduling"): decided from the command's own state, so the task need not wait for the fold. Resolves
   * with what was appended (the `TaskScheduled`), or `undefined` when this replica is not active or the
   * task waits in the queue. The `TaskStarted` consumer path stays for recovery.
   */
  async placeStarted(id: string, t: LiveTask): Promise<CommandResult | undefined> {
    if (!this.isActive() || t.status !== 'pending' || this.placedAhead.get(id) === t.attempt) return undefined;
    // The fold saw the `TaskStarted` first and is placing the task already: answer with that.
    const placing = this.inFlight.get(id);
    if (placing !== undefined) return placing;
    // The fold may already be ahead of the command's state (it placed the task itself).
    const folded = this.tasks.get(id);
    if (folded !== undefined && (folded.status !== 'pending' || folded.attempt !== t.attempt)) return undefined;
    const sent = this.decide(id, t, `start-${id}`);
    if (sent === undefined) return undefined;
    const result = await sent;
    if (result !== undefined) this.placedAhead.set(id, t.attempt);
    return result;
  }

  /** When a WAMR device was last heard according to the liveness KV (epoch ms), if ever. */
  heardAt(propletId: string): number | undefined {
    return this.directory.get(propletId)?.lastHeardAt;
  }

  stats(): PlacementLoopStats {
    return { active: this.isActive(), seq: this.seq, queued: this.queue.size, reserved: this.ledger.size, timers: this.timers.size, inFlight: this.inFlight.size, sending: this.sending + this.sendQueue.length, live: this.tasks.size, awaitingArchive: this.finished.size };
  }

  // ---- folding (every replica) ----

  private onEvent(stored: StoredEnvelope): void {
    if (stored.aggregate !== 'task' && stored.aggregate !== 'proplet' && stored.aggregate !== 'site') return;
    const event = parseStoredEvent(stored);
    if (event.aggregate === 'task') this.onTaskEvent(event.aggregateId, { type: event.type, data: event.data } as TaskEvent, stored.id, stored.seq);
    else if (event.aggregate === 'proplet') this.onPropletEvent(event.aggregateId, { type: event.type, data: event.data } as PropletEvent);
    else if (event.type === 'SiteEvacuationPaused') this.pausedSites.add(event.data.site);
    else if (event.type === 'SiteEvacuationResumed') {
      this.pausedSites.delete(event.data.site);
      if (this.active && this.o.autoEvacuateTasks !== false) {
        for (const id of this.directory.withHealth('failed', event.data.site)) this.evacuate(id, `proplet ${id} failed; site ${event.data.site} evacuation resumed`);
      }
    }
  }

  private onTaskEvent(id: string, e: TaskEvent, eventId: string, seq: number): void {
    const before = this.tasks.get(id);
    const after: TaskState = taskDecider.evolve(before ?? taskDecider.initialState(), e);
    if (before !== undefined && isPlaced(before)) this.onProplet.get(before.propletId)?.delete(id);
    // Finished tasks leave the map: what retention needs of them is in `finished`.
    if (isLive(after) && !isFinished(after)) this.tasks.set(id, after);
    else {
      this.tasks.delete(id);
      this.timedOutOn.delete(id);
    }
    // A finished task's state is not kept, so a later event of it (a discarded late result) folds from
    // nothing: only its archive or delete ends its retention.
    if (isFinished(after)) {
      if (this.o.retentionMs !== undefined && !this.finished.has(id)) this.finished.set(id, Date.parse(after.finishedAt) + this.o.retentionMs);
    } else if (e.type === 'TaskArchived' || e.type === 'TaskDeleted') {
      this.finished.delete(id);
      this.archiving.delete(id);
    }
    if (isPlaced(after)) {
      let set = this.onProplet.get(after.propletId);
      if (!set) this.onProplet.set(after.propletId, (set = new Set()));
      set.add(id);
    }
    if (e.type === 'TaskEvacuated' && e.data.reason.startsWith(TIMEOUT_REASON_PREFIX)) {
      let set = this.timedOutOn.get(id);
      if (!set) this.timedOutOn.set(id, (set = new Set()));
      set.add(e.data.fromPropletId);
    }
    if (e.type === 'TaskCreated' || e.type === 'TaskUpdated') this.schedulingTasks.delete(id);
    // Placed ahead of the fold: forget it once the fold has passed that attempt's pending state.
    const ahead = this.placedAhead.get(id);
    if (ahead !== undefined && !(isLive(after) && (after.status === 'created' || after.status === 'pending') && after.attempt === ahead)) this.placedAhead.delete(id);
    if (e.type === 'TaskArchived') this.toPurge.set(id, seq);
    if (!this.active) return;

    // ---- reacting (the lease holder only) ----
    switch (e.type) {
      case 'TaskCreated':
        // Created with `start: true`: pending at once.
        if (e.data.startedAt !== undefined) this.placeTask(id, eventId);
        return;
      case 'TaskStarted':
        this.placeTask(id, eventId);
        return;
      case 'TaskScheduled':
      case 'TaskRunning':
        if (isPlaced(after)) {
          this.queue.remove(id);
          this.ledger.reserve(id, after.propletId, requirementsOf(after.spec));
          this.arm(id, after);
        }
        return;
      case 'TaskEvacuated': {
        this.disarm(id);
        const freed = this.ledger.release(id);
        this.placeTask(id, eventId);
        if (freed !== undefined) this.matchFor(freed);
        return;
      }
      default:
        if (FINISHED.has(e.type) || e.type === 'TaskDeleted' || e.type === 'TaskArchived') {
          this.disarm(id);
          this.queue.remove(id);
          this.schedulingTasks.delete(id);
          const freed = this.ledger.release(id);
          if (freed !== undefined) this.matchFor(freed);
          if (FINISHED.has(e.type) && after.status !== 'absent' && isLive(after) && after.startedAt !== undefined && 'finishedAt' in after) {
            this.o.onFinished?.(after.status as 'completed' | 'failed' | 'stopped', Math.max(0, (Date.parse(after.finishedAt) - Date.parse(after.startedAt)) / 1000));
          }
          if (isFinished(after)) this.armRetention();
          if (e.type === 'TaskArchived') this.purgeArchived(id, seq);
        }
    }
  }

  private onPropletEvent(id: string, e: PropletEvent): void {
    const site = this.directory.siteOf(id);
    const change = this.directory.apply(id, e);
    if (!this.active) return;
    if (change.kind === 'mayTakeMore') this.matchFor(id);
    else if (change.kind === 'lost') {
      if (this.o.autoEvacuateTasks === false) return;
      if (site !== undefined && this.pausedSites.has(site)) {
        this.log.warn({ propletId: id, site }, 'site evacuation is paused; the tasks of the proplet stay where they are');
        return;
      }
      this.evacuate(id, change.reason);
    }
  }

  // ---- leadership ----

  private async takeOver(token: number): Promise<void> {
    this.token = token;
    try {
      // Fold the log up to its end before acting, so the rebuilt state is the whole truth.
      const jsm = await jetstreamManager(this.o.nc);
      const last = (await jsm.streams.info(this.o.names.stream)).state.last_seq;
      while (this.seq < last && this.token === token && !this.stopping) await new Promise((r) => setTimeout(r, 5));
    } catch (e) {
      this.log.error({ err: e }, 'placement loop cannot read the stream end; acting on what it has folded');
    }
    if (this.token !== token || this.stopping) return;
    this.rebuild();
    this.active = true;
    this.o.onActive?.();
    this.log.info({ token, tasks: this.tasks.size, reserved: this.ledger.size }, 'placement loop active');
    const pending = [...this.tasks.entries()]
      .filter(([, t]) => t.status === 'pending')
      .sort(([a, x], [b, y]) => (x.status === 'pending' && y.status === 'pending' ? x.pendingSince.localeCompare(y.pendingSince) : 0) || a.localeCompare(b));
    for (const [id] of pending) this.placeTask(id, `takeover-${token}`);
    if (this.o.autoEvacuateTasks !== false) {
      // A proplet that failed or left while nobody was active still holds tasks: move them now.
      for (const [propletId, ids] of this.onProplet) {
        if (ids.size === 0) continue;
        const p = this.directory.get(propletId);
        const site = this.directory.siteOf(propletId);
        if ((p === undefined || p.health === 'failed') && !(site !== undefined && this.pausedSites.has(site))) this.evacuate(propletId, `proplet ${propletId} ${p ? 'failed' : 'left'}`);
      }
    }
  }

  private stepBack(reason: string): void {
    if (this.active) {
      this.log.warn({ reason }, 'placement loop lost its lease, stepping back');
      this.o.onInactive?.();
    }
    this.active = false;
    this.placedAhead.clear();
    this.token = 0;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.disarmRetention();
    this.queue = new PendingQueue();
    this.ledger = new CapacityLedger();
  }

  /** Ledger and timers from the folded tasks (the queue fills as pending tasks are placed). */
  private rebuild(): void {
    this.ledger = new CapacityLedger();
    this.queue = new PendingQueue();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.policyState = initialPolicyState();
    this.disarmRetention();
    this.armRetention();
    for (const [id, t] of this.tasks) {
      if (!isPlaced(t)) continue;
      this.ledger.reserve(id, t.propletId, requirementsOf(t.spec));
      this.arm(id, t);
    }
    // Archived by a holder that died before purging: purge now.
    for (const [id, seq] of this.toPurge) this.purgeArchived(id, seq);
  }

  // ---- retention ----

  /**
   * Arms the sweep for the earliest archive not sent yet (while active). One timer for every finished
   * task: they are due in about the order they finished, which is the fold order of `finished`.
   */
  private armRetention(): void {
    if (!this.active || this.retentionTimer !== undefined) return;
    for (const [id, due] of this.finished) {
      if (this.archiving.has(id)) continue;
      this.retentionTimer = setTimeout(() => this.sweepRetention(), Math.max(0, Math.min(due - Date.now(), MAX_TIMER_MS)));
      return;
    }
  }

  private disarmRetention(): void {
    if (this.retentionTimer !== undefined) clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
    this.archiving.clear();
  }

  /** Sends `task.archive` for every finished task that is due (at most `RETENTION_SWEEP_MAX` per turn), then re-arms. */
  private sweepRetention(): void {
    this.retentionTimer = undefined;
    if (!this.active) return;
    const now = Date.now();
    let sent = 0;
    for (const [id, due] of this.finished) {
      if (this.archiving.has(id)) continue;
      // In fold order, not strictly by due time (finish times of concurrent tasks differ by milliseconds):
      // the first one not due yet ends this sweep.
      if (due > now) break;
      if (sent === RETENTION_SWEEP_MAX) {
        this.retentionTimer = setTimeout(() => this.sweepRetention(), 0);
        return;
      }
      this.archiving.add(id);
      sent++;
      // Refused or failed (deleted meanwhile, the lease moved): it stays marked, so it is not resent in a
      // loop; the fold of a `TaskDeleted` forgets it, and a takeover starts with no marks.
      void this.send('archive', id, { taskId: id }, `retention-${id}`, () => undefined);
    }
    this.armRetention();
  }

  /** Purges an archived task's subject once the read model has dropped its rows (so the projection sees `TaskArchived`). */
  private purgeArchived(id: string, seq: number): void {
    const { purge, projected } = this.o;
    if (purge === undefined) return;
    const token = this.token;
    void (async () => {
      try {
        if (projected !== undefined && !(await projected(seq))) return;
        if (this.token !== token || !this.active) return;
        await purge(id);
        this.toPurge.delete(id);
      } catch (e) {
        this.log.warn({ err: e, taskId: id }, 'cannot purge an archived task yet; the next holder tries again');
      }
    })();
  }

  // ---- placing ----

  private schedulingTask(id: string, spec: TaskSpec): SchedulingTask {
    let st = this.schedulingTasks.get(id);
    if (st === undefined) {
      st = {
        id,
        name: spec.name,
        imageUrl: spec.imageUrl,
        labels: spec.labels,
        preferredPropletType: spec.preferredPropletType,
        propletSelector: spec.propletSelector,
        resourceRequirements: spec.resourceRequirements,
        fitsWamr: fitsWamr(id, spec),
      };
      this.schedulingTasks.set(id, st);
    }
    return st;
  }

  private placeTask(id: string, causationId: string): void {
    const t = this.tasks.get(id);
    if (t === undefined || t.status !== 'pending' || this.inFlight.has(id) || this.placedAhead.get(id) === t.attempt) return;
    void this.decide(id, t, causationId);
  }

  /** Places one pending task: schedules it (the promise of that command) or queues it as unschedulable. */
  private decide(id: string, t: LiveTask & { status: 'pending' }, causationId: string): Promise<CommandResult | undefined> | undefined {
    const st = this.schedulingTask(id, t.spec);
    const options = {
      policy: this.o.policy ?? 'hybrid',
      now: Date.now(),
      random: (this.o.random ?? Math.random)(),
      ...(this.o.computeKeywords ? { computeKeywords: this.o.computeKeywords } : {}),
      ...(this.o.edgeKeywords ? { edgeKeywords: this.o.edgeKeywords } : {}),
      ...(this.o.loadBalancingRatio === undefined ? {} : { loadBalancingRatio: this.o.loadBalancingRatio }),
    };
    const fleet = this.directory.fleet();
    const avoid = this.timedOutOn.get(id);
    let result;
    try {
      // The next attempt after a timeout goes elsewhere when another proplet can take it (same index,
      // those proplets left out of this one decision), else anywhere.
      result = avoid && avoid.size > 0 ? place(st, fleet, this.ledger, this.policyState, { ...options, exclude: avoid }) : undefined;
      if (result === undefined || result.placed === undefined) result = place(st, fleet, this.ledger, this.policyState, options);
    } catch (e) {
      this.log.error({ err: e, taskId: id }, 'cannot place task');
      return undefined;
    }
    this.policyState = result.state;
    if (result.placed) {
      const req = requirementsOf(t.spec);
      this.queue.remove(id);
      return this.schedule(id, t.attempt, result.placed.propletId, req, explanationText(result.placed.explanation), causationId);
    }
    const keys = reasonKeys(result.unschedulable.explanation);
    const previous = this.queue.get(id);
    this.queue.add({ task: st, since: Date.parse(t.pendingSince), reasons: keys });
    if (previous !== undefined && sameReasons(previous.reasons, keys)) return undefined;
    const reasons = result.unschedulable.explanation.reasons.map((r) => r.message);
    // After a takeover the queue starts empty: what the log already says need not be said again.
    if (previous === undefined && t.unschedulableReasons !== undefined && sameReasons(t.unschedulableReasons, reasons)) return undefined;
    void this.send('recordUnschedulable', id, { taskId: id, attempt: t.attempt, reasons: reasons.length > 0 ? reasons : ['no proplet is registered'] }, causationId, () => undefined);
    return undefined;
  }

  /** Tests one proplet against the queue, oldest first, and schedules what now fits it. */
  private matchFor(propletId: string): void {
    if (!this.active || this.queue.size === 0) return;
    const c = this.directory.candidate(propletId);
    if (c === undefined) return;
    const matches = matchProplet(this.queue, c, this.ledger, { now: Date.now(), channelPeers: this.directory.channelPeers(propletId) });
    for (const m of matches) {
      this.queue.remove(m.taskId);
      const t = this.tasks.get(m.taskId);
      if (t === undefined || t.status !== 'pending' || this.inFlight.has(m.taskId)) continue;
      void this.schedule(m.taskId, t.attempt, propletId, m.requirements, explanationText(m.explanation), `match-${propletId}`);
    }
  }

  private schedule(id: string, attempt: number, propletId: string, req: ParsedRequirements, explanation: string, causationId: string): Promise<CommandResult | undefined> {
    this.ledger.reserve(id, propletId, req);
    const token = this.token;
    return this.send('schedule', id, { taskId: id, propletId, attempt, explanation: explanation.slice(0, MAX_EXPLANATION_CHARS) }, causationId, (refused) => {
      // Not the leader any more: the next holder rebuilds from the log, nothing to undo here.
      if (!refused || this.token !== token || !this.active) return;
      // Refused for good (the task moved on) or never delivered: give the room back.
      const t = this.tasks.get(id);
      const placedHere = t !== undefined && isPlaced(t) && t.propletId === propletId;
      if (!placedHere && this.ledger.holder(id) === propletId) {
        this.ledger.release(id);
        this.matchFor(propletId);
      }
      // Still waiting (the command never landed, or a newer attempt is due): decide again.
      if (t?.status === 'pending') this.placeTask(id, causationId);
    });
  }

  private evacuate(propletId: string, reason: string): void {
    const ids = [...(this.onProplet.get(propletId) ?? [])];
    if (ids.length > 0) this.log.info({ propletId, tasks: ids.length, reason }, 'evacuating the tasks of a lost proplet');
    for (const id of ids) void this.send('evacuate', id, { taskId: id, fromPropletId: propletId, reason }, `evacuate-${propletId}`, () => undefined);
  }

  // ---- timers ----

  private arm(id: string, t: Placed): void {
    this.disarm(id);
    const timeoutMs = t.spec.timeoutMs;
    if (timeoutMs === null) return;
    const from = Date.parse(t.status === 'running' ? t.runningAt : t.scheduledAt);
    const fire = (): void => {
      const due = from + timeoutMs - Date.now();
      if (due > 0) {
        this.timers.set(id, setTimeout(fire, Math.min(due, MAX_TIMER_MS)));
        return;
      }
      this.timers.delete(id);
      const now = this.tasks.get(id);
      if (!this.active || now === undefined || !isPlaced(now) || now.attempt !== t.attempt) return;
      void this.send('recordTimeout', id, { taskId: id, attempt: t.attempt }, `timer-${id}-${t.attempt}`, () => undefined);
    };
    this.timers.set(id, setTimeout(fire, Math.max(0, Math.min(from + timeoutMs - Date.now(), MAX_TIMER_MS))));
  }

  private disarm(id: string): void {
    const timer = this.timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(id);
  }

  // ---- sending ----

  /**
   * Sends a task command with the lease's fencing token, at most `maxInFlight` at once. Transport
   * failures are retried (every command here is idempotent); `done(true)` reports a refusal.
   */
  private send(
    name: 'schedule' | 'recordUnschedulable' | 'recordTimeout' | 'evacuate' | 'archive',
    taskId: string,
    data: Record<string, unknown>,
    causationId: string,
    done: (refused: boolean) => void,
  ): Promise<CommandResult | undefined> {
    const token = this.token;
    const fenced = name !== 'evacuate' && name !== 'archive';
    let settle!: (r: CommandResult | undefined) => void;
    const settled = new Promise<CommandResult | undefined>((r) => (settle = r));
    if (name === 'schedule') this.inFlight.set(taskId, settled);
    const run = async (): Promise<void> => {
      let refused = false;
      let answer: CommandResult | undefined;
      for (let tryNo = 1; tryNo <= SEND_TRIES; tryNo++) {
        if (this.token !== token || this.stopping) {
          refused = true;
          break;
        }
        try {
          const request = { meta: { correlationId: randomUUID(), causationId, issuedAt: new Date().toISOString(), ...(fenced ? { fencingToken: token } : {}) }, data };
          answer = this.o.execute
            ? await this.o.execute(`task.${name}`, request)
            : await sendCommand(this.o.nc, this.o.names, 'task', name, request, { timeoutMs: this.o.commandTimeoutMs ?? 5_000 });
          break;
        } catch (e) {
          if (isNotLeader(e)) {
            // The fencing check says another replica holds the lease (or nobody): stop acting at once
            // rather than wait for the next renewal to notice.
            refused = true;
            if (this.token === token) this.stepBack('fencing token refused');
            break;
          }
          if (isConflict(e) || isNotFound(e) || isInvalid(e)) {
            refused = true;
            if (!isConflict(e)) this.log.warn({ err: e, taskId, command: name }, 'task command refused');
            break;
          }
          this.log.warn({ err: e, taskId, command: name, try: tryNo }, 'task command failed, retrying');
          if (tryNo === SEND_TRIES) refused = !this.placedAsSent(taskId, name);
        }
      }
      if (name === 'schedule') this.inFlight.delete(taskId);
      done(refused);
      settle(refused ? undefined : answer);
    };
    const max = this.o.maxInFlight ?? 256;
    const go = (): void => {
      this.sending++;
      void run().finally(() => {
        this.sending--;
        this.sendQueue.shift()?.();
      });
    };
    if (this.sending < max) go();
    else this.sendQueue.push(go);
    return settled;
  }

  // After the last failed try the log decides: a schedule that did land is not refused.
  private placedAsSent(taskId: string, name: string): boolean {
    const t = this.tasks.get(taskId);
    return name === 'schedule' && t !== undefined && isPlaced(t);
  }
}

/**
 * The resources a task reserves on its proplet (none when its quantities do not parse; the create refused
 * those). From the spec alone: the ledger needs no `SchedulingTask` (nor its WAMR fit) of a task it folds.
 */
function requirementsOf(spec: TaskSpec): ParsedRequirements {
  try {
    return parseRequirements(spec);
  } catch {
    return { cpuMillis: 0, memoryBytes: 0 };
  }
}

/**
 * Whether the task's start, shaped for a WAMR device, fits in 1,023 bytes (`@propeller/mqtt-protocol`).
 * The module's base64 is stood in for by text of the same length, so the bytes are never fetched.
 */
export function fitsWamr(id: string, spec: TaskSpec): boolean {
  const file = spec.module === null ? undefined : 'A'.repeat(Math.ceil(spec.module.size / 3) * 4);
  const fit = startFitsWamr({
    task: { id, name: spec.functionName, inputs: spec.inputs },
    // Attempts ≥ 2 travel under a UUIDv5 as long as the task id, so attempt 1 stands for all.
    attempt: 1,
    target: { propletId: id, dialect: 'wamr', perPropletTopics: true, channel: { domainId: 'propeller', channelId: 'control', layout: 'messages' } },
    module: { ...(file === undefined ? {} : { file }), ...(spec.imageUrl === null ? {} : { imageUrl: spec.imageUrl }) },
  });
  return fit.fits;
}
