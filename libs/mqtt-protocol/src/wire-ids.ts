import { v5 as uuidv5, validate as isUuid } from 'uuid';
import { InvalidError } from '@propeller/events';

/**
 * Wire ids fence task attempts (PROTOCOL.md "Wire ids fence attempts").
 *
 * Attempt 1 of task T travels as `T` itself; attempt n ≥ 2 as `UUIDv5(name = "attempt/" + n,
 * namespace = T)`. Upstream proplets echo the id back as `task_id`, so every result names its attempt.
 *
 * Fallback for a task id that is not a UUID (tasks created from elsewhere may carry any id): the
 * namespace is first made a UUID as `UUIDv5(name = T, namespace = WIRE_ID_FALLBACK_NAMESPACE)`,
 * then the same rule applies. Attempt 1 is still `T` unchanged.
 */

/** Namespace used to turn a non-UUID task id into a UUID namespace: `UUIDv5("https://propeller.absmach.fr/wire-ids", URL namespace)`. */
export const WIRE_ID_FALLBACK_NAMESPACE = '848c22da-8eed-5731-87f8-08b836a8c8b8';

function namespaceOf(taskId: string): string {
  return isUuid(taskId) ? taskId.toLowerCase() : uuidv5(taskId, WIRE_ID_FALLBACK_NAMESPACE);
}

function checkAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) throw InvalidError.field('attempt', attempt, 'must be an integer ≥ 1');
}

/** The wire id of one attempt of a task. Throws `InvalidError` for an empty task id or an attempt below 1. */
export function wireIdFor(taskId: string, attempt: number): string {
  if (typeof taskId !== 'string' || taskId.length === 0) throw InvalidError.field('taskId', taskId, 'must be a non-empty string');
  checkAttempt(attempt);
  if (attempt === 1) return taskId;
  return uuidv5(`attempt/${attempt}`, namespaceOf(taskId));
}

/**
 * Which attempt (1..maxAttempt) of `taskId` a wire id names, or `null` when it names none of them
 * (another task, or an attempt beyond `maxAttempt`). UUIDs compare case-insensitively.
 */
export function attemptOfWireId(taskId: string, wireId: string, maxAttempt: number): number | null {
  if (typeof taskId !== 'string' || taskId.length === 0 || typeof wireId !== 'string' || wireId.length === 0) return null;
  const sameId = (a: string, b: string): boolean => a === b || (isUuid(a) && isUuid(b) && a.toLowerCase() === b.toLowerCase());
  if (sameId(wireId, taskId)) return 1;
  if (!isUuid(wireId)) return null;
  const wanted = wireId.toLowerCase();
  const ns = namespaceOf(taskId);
  for (let n = 2; n <= maxAttempt; n++) {
    if (uuidv5(`attempt/${n}`, ns) === wanted) return n;
  }
  return null;
}
