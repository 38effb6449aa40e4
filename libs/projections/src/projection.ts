/* eslint-disable @typescript-eslint/no-explicit-any -- callers pass their own Kysely<DB>; this module only touches tables it owns */
import type { Transaction } from 'kysely';
import type { StoredEnvelope } from '@propeller/events';

/**
 * A read model fed from the event stream. `apply` and `reset` run inside the runner's transaction, which
 * also moves the checkpoint, so rows and position commit together. `apply` must be deterministic in the
 * events it sees (no clock, no lookups outside the transaction) so a rebuild equals the live table.
 */
export interface Projection<DB = any> {
  /** Unique, `[A-Za-z0-9_-]+`: the checkpoint row, the lease `projection.<name>` and the metric label. */
  readonly name: string;
  /** Event types applied; others are skipped by their `Propeller-Type` header without parsing. Default: all. */
  readonly types?: readonly string[];
  /** Reads only `<p>.events.<aggregate>.*` (one filter: NATS 2.9 has no multi-subject filters). Default: every event. */
  readonly aggregate?: string;
  /** Applies one event; throwing stalls the projection at this event (never skipped). */
  apply(trx: Transaction<DB>, event: StoredEnvelope): Promise<void>;
  /**
   * Optional fast path: applies the events of one runner transaction (stream order, already filtered by
   * `types`, at most `batchSize`) with few statements, e.g. folding each row's events in memory and writing
   * every table with one multi-row statement. It must leave the tables exactly as `apply` over the same
   * events one by one would. If it throws, the runner rolls the transaction back and applies that batch
   * again event by event with `apply`, so a stall still stops exactly at the event that cannot be applied.
   */
  applyBatch?(trx: Transaction<DB>, events: readonly StoredEnvelope[]): Promise<void>;
  /** Empties the read model's tables for a rebuild. */
  reset(trx: Transaction<DB>): Promise<void>;
}

const NAME_RE = /^[A-Za-z0-9_-]{1,100}$/;

/** True when `name` is usable as a projection name. */
export function isValidProjectionName(name: string): boolean {
  return NAME_RE.test(name);
}
