/**
 * The small, named error hierarchy that crosses service boundaries (STYLE.md rule 10).
 * Every error has a stable `code`; callers use the `isX()` predicates, never message text.
 */
export type ErrorCode = 'NotFound' | 'Invalid' | 'Conflict' | 'Unschedulable' | 'NotLeader' | 'Internal';

/** Field-level detail of an `Invalid` error: which field, what value, which rule. */
export interface FieldIssue {
  field: string;
  value?: unknown;
  rule: string;
}

export class PropellerError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = `${code}Error`;
    this.code = code;
    this.details = options?.details;
  }
}

export class NotFoundError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('NotFound', message, options);
  }
}

export class InvalidError extends PropellerError {
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[] = [], options?: { cause?: unknown }) {
    super('Invalid', message, { ...options, details: { issues } });
    this.issues = issues;
  }
  /** One-field shortcut: names the field, the value and what was expected. */
  static field(field: string, value: unknown, rule: string): InvalidError {
    return new InvalidError(`${field}: ${rule} (got ${formatValue(value)})`, [{ field, value, rule }]);
  }
}

export class ConflictError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Conflict', message, options);
  }
}

export class UnschedulableError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Unschedulable', message, options);
  }
}

export class NotLeaderError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('NotLeader', message, options);
  }
}

export class InternalError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Internal', message, options);
  }
}

const hasCode = (e: unknown, code: ErrorCode): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;

export const isPropellerError = (e: unknown): e is PropellerError => e instanceof PropellerError;
export const isNotFound = (e: unknown): e is NotFoundError => hasCode(e, 'NotFound');
export const isInvalid = (e: unknown): e is InvalidError => hasCode(e, 'Invalid');
export const isConflict = (e: unknown): e is ConflictError => hasCode(e, 'Conflict');
export const isUnschedulable = (e: unknown): e is UnschedulableError => hasCode(e, 'Unschedulable');
export const isNotLeader = (e: unknown): e is NotLeaderError => hasCode(e, 'NotLeader');

/** The JSON shape of an error on the wire (command replies, REST bodies). */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof PropellerError) {
    return e.details === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, details: e.details };
  }
  return { code: 'Internal', message: e instanceof Error ? e.message : String(e) };
}

/** Rebuilds the typed error from its wire shape, so `isX()` works on the caller's side. */
export function fromWireError(w: WireError): PropellerError {
  const opts = w.details === undefined ? undefined : { details: w.details };
  switch (w.code) {
    case 'NotFound':
      return new NotFoundError(w.message, opts);
    case 'Invalid': {
      const issues = Array.isArray(w.details?.['issues']) ? (w.details['issues'] as FieldIssue[]) : [];
      return new InvalidError(w.message, issues);
    }
    case 'Conflict':
      return new ConflictError(w.message, opts);
    case 'Unschedulable':
      return new UnschedulableError(w.message, opts);
    case 'NotLeader':
      return new NotLeaderError(w.message, opts);
    case 'Internal':
      return new InternalError(w.message, opts);
    default: {
      const never: never = w.code;
      return new InternalError(`unknown error code ${String(never)}: ${w.message}`);
    }
  }
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(value);
  }
}
