/**
 * The small, named error hierarchy that crosses service boundaries (STYLE.md rule 10).
 * Every error has a stable `code`; callers use the `isX()` predicates, never message text.
 */
/** Every stable error code, as they travel on the wire. */
export const ERROR_CODES = ['NotFound', 'Invalid', 'Conflict', 'Unschedulable', 'NotLeader', 'Internal'] as const;
/** One stable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Field-level detail of an `Invalid` error: which field, what value, which rule. */
export interface FieldIssue {
  field: string;
  value?: unknown;
  rule: string;
}

/** Base of every typed error; `code` is stable, `details` travels on the wire. */
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

/** The aggregate or row does not exist. */
export class NotFoundError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('NotFound', message, options);
  }
}

/** Invalid input or a broken invariant; `issues` names each failing field. */
export class InvalidError extends PropellerError {
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[] = [], options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Invalid', message, { ...options, details: { ...options?.details, issues } });
    this.issues = issues;
  }
  /** One-field shortcut: names the field, the value and what was expected. */
  static field(field: string, value: unknown, rule: string): InvalidError {
    return new InvalidError(`${field}: ${rule} (got ${formatValue(value)})`, [{ field, value, rule }]);
  }
}

/** A version conflict or a state that forbids the command. */
export class ConflictError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Conflict', message, options);
  }
}

/** No proplet can take the task. */
export class UnschedulableError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Unschedulable', message, options);
  }
}

/** The sender's lease (fencing token) is stale, or this replica does not hold the lease. */
export class NotLeaderError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('NotLeader', message, options);
  }
}

/** Anything else; never matched on by callers. */
export class InternalError extends PropellerError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('Internal', message, options);
  }
}

// Matches by `code` on any Error (not only this module's classes), so errors from a second copy of
// the module still match; a plain wire object (`WireError`) does not — rebuild it with `fromWireError`.
const hasCode = (e: unknown, code: ErrorCode): boolean => e instanceof Error && (e as { code?: unknown }).code === code;

/** True for any typed Propeller error (also from a second copy of this module). */
export const isPropellerError = (e: unknown): e is PropellerError =>
  e instanceof PropellerError || (e instanceof Error && (ERROR_CODES as readonly unknown[]).includes((e as { code?: unknown }).code));
/** `isX(e)`: true when `e` is a typed error with that code (never a plain `WireError` object). */
export const isNotFound = (e: unknown): e is NotFoundError => hasCode(e, 'NotFound');
export const isInvalid = (e: unknown): e is InvalidError => hasCode(e, 'Invalid');
export const isConflict = (e: unknown): e is ConflictError => hasCode(e, 'Conflict');
export const isUnschedulable = (e: unknown): e is UnschedulableError => hasCode(e, 'Unschedulable');
export const isNotLeader = (e: unknown): e is NotLeaderError => hasCode(e, 'NotLeader');
export const isInternal = (e: unknown): e is InternalError => hasCode(e, 'Internal');

/** The JSON shape of an error on the wire (command replies, REST bodies). */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** The wire shape of any thrown value; anything that is not a `PropellerError` becomes `Internal`. */
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
      const { issues, ...rest } = w.details ?? {};
      return new InvalidError(w.message, Array.isArray(issues) ? (issues as FieldIssue[]) : [], { details: rest });
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

/** A short printable form of a value for error messages (at most 80 characters). */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    // Cycles and very deep nesting: String() of a deep array recurses too, so name the kind only.
    return Array.isArray(value) ? `[array of ${value.length}]` : `[${typeof value}]`;
  }
}
