import type { EventEnvelope, Owner, PropletEvent, Resources, TaskEvent } from '@propeller/events';
import { formatCpu, formatMemory, parseCpuMillis, parseMemoryBytes } from '@propeller/scheduling';
import { isTerminalTaskStatus } from '../names';
import type { PropellerChange, PropletState, TaskState } from './propeller-port';

/**
 * The operator's own small view of Propeller, folded from proplet and task events (never from the
 * registry's or scheduler's tables). Pure: the NATS port feeds it events in stream order and turns
 * what `apply` returns into change notifications.
 *
 * What it keeps: every proplet (id, type, health, capacity, owner: a few hundred bytes each); every
 * task that a CR owns (its whole `TaskState`); and, for tasks without an owner (REST), only their
 * placement and requirements while unfinished, so `taskCount` and `available` count them too.
 */
export class PropellerView {
  private readonly proplets = new Map<string, PropletEntry>();
  private readonly tasks = new Map<string, TaskEntry>();
  /** Unfinished placed tasks per proplet id. */
  private readonly placed = new Map<string, Set<string>>();

  /** Folds one event; returns the change to report, or undefined when the event is not one the view follows. */
  apply(event: EventEnvelope): PropellerChange | undefined {
    if (event.aggregate === 'proplet') return this.applyProplet(event.aggregateId, event as EventEnvelope<PropletEvent>);
    if (event.aggregate === 'task') return this.applyTask(event.aggregateId, event as EventEnvelope<TaskEvent>);
    return undefined;
  }

  /** The registry's view of a proplet as the operator needs it, or undefined when it never registered. */
  proplet(id: string): PropletState | undefined {
    const p = this.proplets.get(id);
    if (!p) return undefined;
    const taskIds = [...(this.placed.get(id) ?? [])];
    const state: PropletState = { id, type: p.type, health: p.health, taskCount: taskIds.length };
    if (p.lastSeenAt !== undefined) state.lastSeenAt = p.lastSeenAt;
    const available = availableOf(effectiveCapacity(p), taskIds.map((t) => this.tasks.get(t)?.requirements ?? {}));
    if (available) state.available = available;
    return state;
  }

  /** The owner (CR) of a proplet as the registry recorded it, if any. */
  propletOwner(id: string): Owner | undefined {
    return this.proplets.get(id)?.owner;
  }

  /** The scheduler's view of a task owned by a CR; undefined for unknown, deleted or archived tasks. */
  task(id: string): TaskState | undefined {
    const t = this.tasks.get(id);
    return t?.state ? structuredClone(t.state) : undefined;
  }

  /** How many tasks and proplets the view holds (for tests and a gauge). */
  size(): { proplets: number; tasks: number } {
    return { proplets: this.proplets.size, tasks: this.tasks.size };
  }

  private applyProplet(id: string, e: EventEnvelope<PropletEvent>): PropellerChange | undefined {
    let p = this.proplets.get(id);
    switch (e.type) {
      case 'PropletRegistered': {
        const d = e.data;
        p = { type: d.type, health: 'unknown', reportedCapacity: d.capacity, overrideCapacity: undefined };
        if (d.owner) p.owner = d.owner;
        this.proplets.set(id, p);
        break;
      }
      case 'PropletUpdated':
        if (!p) return undefined;
        if (e.data.type) p.type = e.data.type;
        if (e.data.capacity) p.reportedCapacity = e.data.capacity;
        if (e.data.owner) p.owner = e.data.owner;
        break;
      case 'PropletLabelled':
        if (!p) return undefined;
        if (e.data.capacity !== undefined) p.overrideCapacity = e.data.capacity ?? undefined;
        break;
      case 'PropletHealthChanged': {
        if (!p) return undefined;
        p.health = e.data.to;
        // Liveness is not an event: the latest heartbeat the operator learns of is the one the judge
        // cites when health changes (or the judgement itself when it turns healthy).
        const seen = e.data.evidence.lastSeenAt ?? (e.data.to === 'healthy' ? e.data.changedAt : undefined);
        if (seen !== undefined && (p.lastSeenAt === undefined || seen > p.lastSeenAt)) p.lastSeenAt = seen;
        break;
      }
      case 'PropletDeregistered':
        if (!p) return undefined;
        p.health = 'deregistered';
        break;
      case 'PropletCordoned':
      case 'PropletUncordoned':
        return undefined;
      default: {
        const never: never = e;
        void never;
        return undefined;
      }
    }
    return { kind: 'proplet', id, ...(p.owner ? { owner: p.owner } : {}) };
  }

  private applyTask(id: string, e: EventEnvelope<TaskEvent>): PropellerChange | undefined {
    if (e.type === 'TaskCreated') {
      const owner = e.data.owner;
      // Created with `start: true` (`startedAt`): pending at once, as after a `TaskStarted`.
      const status = e.data.startedAt === undefined ? 'created' : 'pending';
      const entry: TaskEntry = { requirements: e.data.resourceRequirements, status };
      if (owner) {
        entry.owner = owner;
        entry.state = { id, status, attempts: 0 };
      }
      this.tasks.set(id, entry);
      return { kind: 'task', id, ...(owner ? { owner } : {}) };
    }
    const t = this.tasks.get(id);
    // A task the view dropped (unowned and finished) or never saw: nothing to follow.
    if (!t) return undefined;
    const s = t.state;
    switch (e.type) {
      case 'TaskUpdated':
        if (e.data.resourceRequirements) t.requirements = e.data.resourceRequirements;
        break;
      case 'TaskStarted':
        t.status = 'pending';
        break;
      case 'TaskScheduled':
        t.status = 'scheduled';
        this.place(id, t, e.data.propletId);
        if (s) {
          s.assignedProplet = e.data.propletId;
          s.attempts = e.data.attempt;
          delete s.unschedulableReason;
        }
        break;
      case 'TaskDispatched':
        return undefined;
      case 'TaskRunning':
        t.status = 'running';
        this.place(id, t, e.data.propletId);
        if (s) {
          s.assignedProplet = e.data.propletId;
          s.attempts = e.data.attempt;
          s.startedAt = e.data.runningAt;
        }
        break;
      case 'TaskCompleted':
        t.status = 'completed';
        if (s) {
          s.results = e.data.results;
          s.completedAt = e.data.completedAt;
          if (e.data.propletId !== undefined) s.assignedProplet = e.data.propletId;
        }
        break;
      case 'TaskFailed':
        t.status = 'failed';
        if (s) {
          s.error = e.data.error;
          s.completedAt = e.data.failedAt;
          if (e.data.propletId !== undefined) s.assignedProplet = e.data.propletId;
        }
        break;
      case 'TaskStopped':
        t.status = 'stopped';
        if (s) s.completedAt = e.data.stoppedAt;
        break;
      case 'TaskEvacuated':
        // Pending again as the next attempt; it counts as placed again only once scheduled.
        t.status = 'pending';
        this.unplace(id, t);
        if (s) {
          delete s.assignedProplet;
          delete s.startedAt;
        }
        break;
      case 'TaskUnschedulable':
        if (s) s.unschedulableReason = e.data.reasons.join('; ');
        break;
      case 'TaskResultDiscarded':
        return undefined;
      case 'TaskArchived':
      case 'TaskDeleted':
        this.unplace(id, t);
        this.tasks.delete(id);
        return { kind: 'task', id, ...(t.owner ? { owner: t.owner } : {}) };
      default: {
        const never: never = e;
        void never;
        return undefined;
      }
    }
    if (s) s.status = t.status;
    if (isTerminalTaskStatus(t.status)) {
      this.unplace(id, t);
      // Unowned tasks are followed only for the capacity they hold.
      if (!t.owner) this.tasks.delete(id);
    }
    const change: PropellerChange = { kind: 'task', id, ...(t.owner ? { owner: t.owner } : {}) };
    return change;
  }

  private place(taskId: string, t: TaskEntry, propletId: string): void {
    if (t.propletId === propletId) return;
    this.unplace(taskId, t);
    t.propletId = propletId;
    let set = this.placed.get(propletId);
    if (!set) this.placed.set(propletId, (set = new Set()));
    set.add(taskId);
  }

  private unplace(taskId: string, t: TaskEntry): void {
    if (t.propletId === undefined) return;
    const set = this.placed.get(t.propletId);
    set?.delete(taskId);
    if (set?.size === 0) this.placed.delete(t.propletId);
    delete t.propletId;
  }
}

interface PropletEntry {
  type: 'k8s' | 'external';
  health: PropletState['health'];
  lastSeenAt?: string;
  owner?: Owner;
  reportedCapacity: Resources;
  /** The operator's override (`proplet.label`), which wins over the reported capacity. */
  overrideCapacity: Resources | undefined;
}

interface TaskEntry {
  status: TaskState['status'];
  requirements: Resources;
  /** Set while the task is placed (scheduled or running) and unfinished. */
  propletId?: string;
  owner?: Owner;
  /** Only for tasks a CR owns. */
  state?: TaskState;
}

const effectiveCapacity = (p: PropletEntry): Resources => p.overrideCapacity ?? p.reportedCapacity;

/**
 * Capacity left after `requirements`, per resource the proplet reports (a resource it does not
 * report is unknown, as in the scheduler). Undefined when it reports none; a quantity that does not
 * parse leaves that resource out rather than guessing.
 */
export function availableOf(capacity: Resources, requirements: readonly Resources[]): Resources | undefined {
  const out: Resources = {};
  if (capacity.cpu !== undefined) {
    const cap = parseCpuMillis(capacity.cpu);
    if (cap.ok) {
      let used = 0;
      for (const r of requirements) {
        const q = r.cpu === undefined ? undefined : parseCpuMillis(r.cpu);
        if (q?.ok) used += q.value;
      }
      out.cpu = formatCpu(Math.max(0, cap.value - used));
    }
  }
  if (capacity.memory !== undefined) {
    const cap = parseMemoryBytes(capacity.memory);
    if (cap.ok) {
      let used = 0;
      for (const r of requirements) {
        const q = r.memory === undefined ? undefined : parseMemoryBytes(r.memory);
        if (q?.ok) used += q.value;
      }
      out.memory = formatMemory(Math.max(0, cap.value - used));
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
