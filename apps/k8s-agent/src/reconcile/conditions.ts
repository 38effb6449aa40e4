import type { Condition, ConditionStatus } from '../crd/types';

/** A condition as a plan wants it, before `lastTransitionTime` is settled. */
export interface DesiredCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Merges desired conditions into the previous ones: `lastTransitionTime` moves only when `status`
 * changes (the Kubernetes condition convention), so rewriting the same status is not a change.
 */
export function settleConditions(previous: readonly Condition[] | undefined, desired: readonly DesiredCondition[], now: string, generation?: number): Condition[] {
  return desired.map((d) => {
    const old = previous?.find((c) => c.type === d.type);
    const lastTransitionTime = old && old.status === d.status && old.lastTransitionTime ? old.lastTransitionTime : now;
    const c: Condition = { type: d.type, status: d.status, reason: d.reason, message: d.message, lastTransitionTime };
    if (generation !== undefined) c.observedGeneration = generation;
    return c;
  });
}

/** Deterministic JSON (sorted keys), so equal objects compare and hash equal. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** True when two status objects differ in anything but key order or undefined fields. */
export const statusChanged = (before: unknown, after: unknown): boolean => stableStringify(before ?? {}) !== stableStringify(after ?? {});
