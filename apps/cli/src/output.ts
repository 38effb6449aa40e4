import Table from 'cli-table3';
import { isApiError, isApiUnreachableError } from './client';

/** Where a command writes: results on `out` (stdout), progress and errors on `err` (stderr). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout and stderr. */
export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** Exit codes of the `propeller` command, for scripts. */
export const EXIT = {
  ok: 0,
  /** The API refused the request, or the task ran and failed or was stopped. */
  failed: 1,
  /** Bad command line (unknown command or option, bad value). */
  usage: 2,
  /** Nothing answered at the API address. */
  unreachable: 3,
  /** Interrupted (Ctrl-C) while waiting; 128 + SIGINT as shells report it. */
  interrupted: 130,
} as const;

/** The user interrupted a wait; the task itself goes on. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

/** A command-line value the CLI itself rejects before calling the API. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A task that ended without success (`failed` or `stopped`); `propeller run` exits non-zero with it. */
export class TaskFailedError extends Error {
  override readonly name = 'TaskFailedError';
  constructor(
    message: string,
    readonly task: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** A table for people: no colours (output may be piped or captured), headers as given. */
export function table(head: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true } });
  for (const r of rows) t.push(r.map(cell));
  return t.toString();
}

/** A two-column key/value table for one object. */
export function details(entries: Array<[string, unknown]>): string {
  const t = new Table({ style: { head: [], border: [], compact: true } });
  for (const [k, v] of entries) t.push({ [k]: cell(v) });
  return t.toString();
}

/** How one value shows in a table cell: objects as compact `k=v` lists or JSON, empty as `-`. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return '-';
    if (entries.every(([, x]) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) return entries.map(([k, x]) => `${k}=${String(x)}`).join(', ');
    return JSON.stringify(v);
  }
  return String(v);
}

/** Pretty JSON for `--json` (stable, two-space indent). */
export const json = (v: unknown): string => JSON.stringify(v, null, 2);

/**
 * One error for people, with its exit code. API errors keep their code and HTTP status and list every
 * rejected field with its value and rule; an unreachable API names the address and `npm start`.
 */
export function describeError(e: unknown): { text: string; code: number } {
  if (isApiUnreachableError(e)) return { text: `error: ${e.message}`, code: EXIT.unreachable };
  if (isApiError(e)) {
    const lines = [`error: ${e.code} (HTTP ${e.status}): ${e.message}`];
    for (const i of e.issues) {
      lines.push(`  field ${i.field}${'value' in i && i.value !== undefined ? ` = ${JSON.stringify(i.value)}` : ''}: ${i.rule}`);
    }
    return { text: lines.join('\n'), code: EXIT.failed };
  }
  if (e instanceof UsageError) return { text: `error: ${e.message}`, code: EXIT.usage };
  if (e instanceof InterruptedError) return { text: e.message, code: EXIT.interrupted };
  if (e instanceof TaskFailedError) return { text: `error: ${e.message}`, code: EXIT.failed };
  return { text: `error: ${e instanceof Error ? e.message : String(e)}`, code: EXIT.failed };
}
