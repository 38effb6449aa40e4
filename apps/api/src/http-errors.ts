import type { z } from 'zod';
import { InvalidError, formatValue, isPropellerError, toWireError, type ErrorCode, type FieldIssue, type WireError } from '@propeller/events';
import { isTransientDbError } from '@propeller/projections';

/** HTTP status of each typed error code (ARCHITECTURE.md: the API maps command and query errors). */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  Invalid: 400,
  NotFound: 404,
  Conflict: 409,
  Unschedulable: 422,
  NotLeader: 503,
  Internal: 500,
};

/** The JSON body of every error answer: `{error: {code, message, details}}`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: Record<string, unknown> };
}

/** An error answer: status and body. */
export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
}

/** Fastify's own errors that carry a client-side status (bad JSON, body too large, wrong content type). */
interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

const isFrameworkClientError = (e: unknown): e is FrameworkError & { statusCode: number; code: string } => {
  const f = e as FrameworkError | null;
  return typeof f?.code === 'string' && f.code.startsWith('FST_') && typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500;
};

/**
 * Maps anything thrown while answering a request to its status and body. Typed errors keep their code
 * (`Invalid` 400, `NotFound` 404, `Conflict` 409, `Unschedulable` 422, `NotLeader` 503, `Internal` 500);
 * Fastify's request errors (malformed JSON, a body over the limit → 413, unsupported media type → 415)
 * become `Invalid` with the field `body`; Postgres away, a read model not created yet or a command no service
 * answered (in time) is `Internal` 503
 * (retry later); anything else is `Internal` 500 with a generic message (the cause is logged, not sent).
 */
export function toErrorAnswer(e: unknown): ErrorAnswer {
  if (isPropellerError(e)) {
    const wire: WireError = toWireError(e);
    // toWireError keeps only instances of this copy of the class; a second copy still carries code and details.
    const code = (e as { code: ErrorCode }).code;
    const details = (e as { details?: Record<string, unknown> }).details ?? wire.details ?? {};
    // A command nobody answered (its owning service is restarting) is a dependency away, not a bug.
    const away = code === 'Internal' && (details['reason'] === 'noResponders' || details['reason'] === 'timeout');
    return { status: away ? 503 : STATUS_OF[code], body: { error: { code, message: e.message, details } } };
  }
  if (isFrameworkClientError(e)) {
    const rule =
      e.statusCode === 413
        ? `must be at most the body limit (${e.message})`
        : e.statusCode === 415
          ? 'must be application/json'
          : String(e.message);
    const issue: FieldIssue = { field: 'body', rule };
    return {
      status: e.statusCode,
      body: { error: { code: 'Invalid', message: `body: ${rule}`, details: { issues: [issue], reason: e.code } } },
    };
  }
  // A dependency that is away is worth a retry, unlike a bug: 503 tells clients (and load balancers) so.
  if (isTransientDbError(e)) {
    return { status: 503, body: { error: { code: 'Internal', message: 'the read-model database is unavailable', details: { reason: 'postgresUnavailable' } } } };
  }
  if ((e as { code?: unknown } | null)?.code === UNDEFINED_TABLE) {
    return { status: 503, body: { error: { code: 'Internal', message: 'the read model does not exist yet (the registry creates it on start)', details: { reason: 'readModelMissing' } } } };
  }
  return { status: 500, body: { error: { code: 'Internal', message: 'internal error', details: {} } } };
}

// Postgres SQLSTATE 42P01: the table is not there (the registry has not migrated this schema yet).
const UNDEFINED_TABLE = '42P01';

/**
 * Turns zod issues of a request part (`query`, `body`, `params`) into field issues naming the field,
 * the value and the rule. An unknown key becomes one issue per key ("is not a known field").
 */
export function requestIssues(error: z.ZodError, input: unknown, allowed: readonly string[]): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = [...path, key].join('.');
        out.push({ field, value: valueAt(input, [...path, key]), rule: `is not a known field (allowed: ${allowed.join(', ')})` });
      }
      continue;
    }
    out.push({ field: path.length === 0 ? '(root)' : path.join('.'), value: valueAt(input, path), rule: issue.message });
  }
  return out;
}

/** Parses one part of a request or throws `InvalidError` naming every failing field, its value and the rule. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, part: 'query' | 'body' | 'params', allowed: readonly string[] = []): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = requestIssues(result.error, input, allowed);
  throw new InvalidError(`${part}: ${issues.map((i) => `${i.field}: ${i.rule} (got ${formatValue(i.value)})`).join('; ')}`, issues);
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
