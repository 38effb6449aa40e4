/** Where and when a start message of one attempt reached a simulated proplet's MQTT client (first arrival). */
export interface StartArrival {
  propletId: string;
  at: number;
}

/** What the failover bench saw of one evacuated task. */
export interface EvacuatedTask {
  /** The proplet that held attempt 1 when it failed. */
  from: string;
  /** `PropletHealthChanged` → `failed` of `from` (the judge's clock). */
  failedAt: number | undefined;
  /** Receipt of `TaskScheduled` of the next attempt. */
  scheduledAt: number | undefined;
  /** Arrival of the next attempt's start at a proplet's MQTT client. */
  started: StartArrival | undefined;
}

/** The evacuation figures of the failover bench, in ms, one sample per task. */
export interface EvacuationSamples {
  /** failed → the next attempt's start reached a surviving proplet (tasks whose start reached one). */
  toStart: number[];
  /** failed → `TaskScheduled` of the next attempt (the bench's measure before dispatch existed). */
  toScheduled: number[];
  /** `TaskScheduled` → the start at the surviving proplet: the dispatch share of `toStart`. */
  scheduledToStart: number[];
  /** Tasks whose next start reached a proplet that was itself killed: never counted as evacuated. */
  startedOnVictim: number;
  /** Tasks with no next start seen at any proplet (or no failed time): missing from `toStart`. */
  notStarted: number;
}

/**
 * Turns what the bench saw into samples. A start counts only where it reached a proplet that is not
 * among the victims (`isVictim`): a start sent to a dead proplet has evacuated nothing.
 */
export function evacuationSamples(tasks: readonly EvacuatedTask[], isVictim: (propletId: string) => boolean): EvacuationSamples {
  const out: EvacuationSamples = { toStart: [], toScheduled: [], scheduledToStart: [], startedOnVictim: 0, notStarted: 0 };
  for (const t of tasks) {
    if (t.failedAt !== undefined && t.scheduledAt !== undefined) out.toScheduled.push(t.scheduledAt - t.failedAt);
    if (t.started === undefined || t.failedAt === undefined) {
      out.notStarted += 1;
      continue;
    }
    if (isVictim(t.started.propletId)) {
      out.startedOnVictim += 1;
      continue;
    }
    out.toStart.push(t.started.at - t.failedAt);
    if (t.scheduledAt !== undefined) out.scheduledToStart.push(t.started.at - t.scheduledAt);
  }
  return out;
}
