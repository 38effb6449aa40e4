import { WAMR_MAX_START_BYTES } from '@propeller/mqtt-protocol';
import { buildExplanation, type Explanation, type Note } from './explanation';
import type { LedgerView, Reservation } from './ledger';
import { formatCpu, formatMemory } from './quantity';
import { firstRejection, sharesChannelWithWamr, taskFacts, WAMR_CHANNEL_WINDOW_MS, type TaskFacts } from './rules';
import type { Candidate, ParsedRequirements, SchedulingTask } from './types';

/** An unschedulable task waiting for a proplet. */
export interface PendingEntry {
  readonly task: SchedulingTask;
  /** When it started waiting (epoch ms); the queue is ordered by it, oldest first, then by task id. */
  readonly since: number;
  /** Its last reason set, so the scheduler can tell whether a new `TaskUnschedulable` is due. */
  readonly reasons: readonly string[];
}

interface Slot {
  entry: PendingEntry;
  facts: TaskFacts;
}

const before = (a: PendingEntry, b: PendingEntry): boolean => a.since < b.since || (a.since === b.since && a.task.id < b.task.id);

/**
 * The leader's pending queue: unschedulable tasks, oldest first. A small **mutable** class owned by
 * the placement loop, like the ledger; each task's filter facts are prepared once when it enters,
 * so matching a proplet against a long queue parses nothing.
 */
export class PendingQueue {
  private readonly slots: Slot[] = [];
  private readonly byId = new Map<string, Slot>();

  /** @param wamrMaxStartBytes limit of the WAMR start rule; default 1,023. */
  constructor(private readonly wamrMaxStartBytes = WAMR_MAX_START_BYTES) {}

  /** Adds or replaces a task (a replaced task keeps the position of its new `since`). Throws `InvalidError` for bad requirements. */
  add(entry: PendingEntry): void {
    const facts = taskFacts(entry.task, this.wamrMaxStartBytes);
    this.remove(entry.task.id);
    const slot = { entry, facts };
    // Binary search for the first slot that comes after the new one: O(log n) to find, O(n) to shift.
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before((this.slots[mid] as Slot).entry, entry)) lo = mid + 1;
      else hi = mid;
    }
    this.slots.splice(lo, 0, slot);
    this.byId.set(entry.task.id, slot);
  }

  /** Removes a task; returns whether it was queued. */
  remove(taskId: string): boolean {
    const slot = this.byId.get(taskId);
    if (slot === undefined) return false;
    this.byId.delete(taskId);
    this.slots.splice(this.slots.indexOf(slot), 1);
    return true;
  }

  get(taskId: string): PendingEntry | undefined {
    return this.byId.get(taskId)?.entry;
  }

  has(taskId: string): boolean {
    return this.byId.has(taskId);
  }

  get size(): number {
    return this.slots.length;
  }

  /** The entries, oldest first. */
  entries(): PendingEntry[] {
    return this.slots.map((s) => s.entry);
  }

  /** @internal entries with their prepared facts, oldest first, for `matchProplet`. */
  prepared(): readonly Slot[] {
    return this.slots;
  }
}

/** Inputs of `matchProplet` besides the queue, the proplet and the ledger. */
export interface MatchOptions {
  /** The clock (epoch ms), for the WAMR channel rule. */
  now: number;
  /** The other proplets on the candidate's channel (only needed when it is a WAMR device); default none. */
  channelPeers?: readonly Candidate[];
  /** Default 30 s. */
  wamrChannelWindowMs?: number;
}

/** A queued task that now fits the proplet. */
export interface Match {
  readonly taskId: string;
  readonly propletId: string;
  /** What to reserve in the ledger once `TaskScheduled` is appended. */
  readonly requirements: ParsedRequirements;
  readonly explanation: Explanation;
}

/**
 * Tests **only** `candidate` against the queue, oldest first, when it joins, recovers, changes or
 * frees capacity; returns the tasks that now fit it, filling it as it goes (each match takes its
 * share of CPU, memory and task slots before the next task is tested). Nothing is mutated: the
 * caller schedules the matches, reserves them and removes them from the queue.
 *
 * A queued task matched here takes this proplet even if it prefers the other type: it is queued
 * because no proplet of either type could take it.
 */
export function matchProplet(queue: PendingQueue, candidate: Candidate, ledger: LedgerView, options: MatchOptions): Match[] {
  if (candidate.health !== 'healthy' || candidate.cordoned || queue.size === 0) return [];
  const windowMs = options.wamrChannelWindowMs ?? WAMR_CHANNEL_WINDOW_MS;
  const otherHeard =
    candidate.dialect === 'wamr' &&
    (options.channelPeers ?? []).some(
      (p) =>
        p.id !== candidate.id &&
        p.dialect === 'wamr' &&
        p.channel === candidate.channel &&
        p.lastHeardAt !== undefined &&
        options.now - p.lastHeardAt <= windowMs,
    );
  const base = ledger.get(candidate.id);
  const filling = { cpuMillis: base?.cpuMillis ?? 0, memoryBytes: base?.memoryBytes ?? 0, tasks: base?.tasks ?? 0 };
  const matches: Match[] = [];
  for (const { entry, facts } of queue.prepared()) {
    if (candidate.maxTasks !== undefined && filling.tasks >= candidate.maxTasks) break;
    const reserved: Reservation = filling;
    if (firstRejection(candidate, facts, reserved) !== undefined) continue;
    if (sharesChannelWithWamr(candidate, facts, otherHeard) !== undefined) continue;
    filling.cpuMillis += facts.cpuMillis;
    filling.memoryBytes += facts.memoryBytes;
    filling.tasks += 1;
    const notes: Note[] = [{ kind: 'queue', message: `placed from the pending queue when proplet ${candidate.id} could take it` }];
    if (facts.cpuMillis > 0 && candidate.capacity.cpuMillis === undefined) {
      notes.push({ kind: 'unreported', message: `${candidate.id} does not report cpu, so the cpu request ${formatCpu(facts.cpuMillis)} did not constrain it` });
    }
    if (facts.memoryBytes > 0 && candidate.capacity.memoryBytes === undefined) {
      notes.push({
        kind: 'unreported',
        message: `${candidate.id} does not report memory, so the memory request ${formatMemory(facts.memoryBytes)} did not constrain it`,
      });
    }
    matches.push({
      taskId: entry.task.id,
      propletId: candidate.id,
      requirements: { cpuMillis: facts.cpuMillis, memoryBytes: facts.memoryBytes },
      explanation: buildExplanation(1, 1, [], notes),
    });
  }
  return matches;
}
