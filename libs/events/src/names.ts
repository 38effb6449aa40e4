import { InvalidError } from './errors';

/**
 * Every NATS name Propeller uses, built in one place from `PROPELLER_NATS_PREFIX`
 * (ARCHITECTURE.md, "The event backbone"). Tests use their own prefix, so runs never meet.
 */

/** Default NATS prefix. */
export const DEFAULT_NATS_PREFIX = 'propeller';

/** Longest id, in UTF-8 bytes, that fits into one subject token. */
export const MAX_ID_BYTES = 200;

const PREFIX_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Characters that cannot stand in one subject token (separator, wildcards, whitespace, control
// characters), plus '%' (the escape itself). Everything else, unicode included, stays readable.
const TOKEN_UNSAFE_RE = /[.*>%\s\p{Cc}]/gu;

/** Encodes an aggregate id into one subject token; throws `InvalidError` for an empty id or one over 200 bytes. */
export function encodeIdToken(id: string, field = 'id'): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw InvalidError.field(field, id, 'must be a non-empty string');
  }
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_ID_BYTES) {
    throw InvalidError.field(field, id, `must be at most ${MAX_ID_BYTES} bytes (is ${bytes})`);
  }
  return id.replace(TOKEN_UNSAFE_RE, (c) => encodeURIComponent(c).replace(/[.*]/g, (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`));
}

/** Inverse of `encodeIdToken`; throws `InvalidError` for a token it cannot have produced. */
export function decodeIdToken(token: string): string {
  if (typeof token !== 'string' || token.length === 0) throw InvalidError.field('token', token, 'must be a non-empty string');
  if (/[.*>\s]/u.test(token)) throw InvalidError.field('token', token, 'must be one encoded subject token');
  try {
    return decodeURIComponent(token);
  } catch {
    throw InvalidError.field('token', token, 'has a malformed percent escape');
  }
}

/** Every NATS name of one prefix (see `natsNames`). */
export interface NatsNames {
  readonly prefix: string;
  /** The event stream: `<P>_EVENTS`. */
  readonly stream: string;
  /** Subjects the event stream captures: `<p>.events.>`. */
  readonly streamSubjects: string;
  /** `<p>.events.<aggregate>.<id>` — one subject per aggregate instance. */
  eventSubject(aggregate: string, id: string): string;
  /** `<p>.events.<aggregate>.*` — every instance of one aggregate. */
  eventFilter(aggregate: string): string;
  /** Reads `{aggregate, id}` back from an event subject. */
  parseEventSubject(subject: string): { aggregate: string; id: string };
  /** `<p>.commands.<aggregate>.<name>` — request/reply, queue group. */
  commandSubject(aggregate: string, name: string): string;
  /** `<p>.commands.<aggregate>.*` — what the aggregate's owner subscribes to. */
  commandFilter(aggregate: string): string;
  /**
   * `<p>.leader.<aggregate>.<name>` — the same command served only by the replica holding the aggregate's
   * singleton lease (the scheduler places a task inside its start command there); a sender falls back to
   * `commandSubject` when nobody answers (ADR 0025).
   */
  leaderCommandSubject(aggregate: string, name: string): string;
  /** Reads `{aggregate, name}` back from a command subject. */
  parseCommandSubject(subject: string): { aggregate: string; name: string };
  /** Queue group used by every replica serving commands of one aggregate. */
  commandQueue(aggregate: string): string;
  /** `<p>.dlq.<consumer>` — dead letters of one process manager. */
  dlqSubject(consumer: string): string;
  /** The stream that keeps dead letters: `<P>_DLQ`. */
  readonly dlqStream: string;
  readonly kv: {
    readonly liveness: string;
    readonly leases: string;
    readonly snapshots: string;
    readonly metrics: string;
  };
  /** The module object store: `<p>_modules`. */
  readonly modules: string;
  /** Device metrics history stream `<P>_METRICS` and its subjects `<p>.metrics.>`. */
  readonly metricsStream: string;
  metricsSubject(kind: 'proplet' | 'task', id: string): string;
  /** Device messages kept until their handler exists (results, task_started, registry requests): stream `<P>_INBOX`, subjects `<p>.inbox.>`. */
  readonly inboxStream: string;
  /** `<p>.inbox.<kind>.<id>` — one device message of `kind`, keyed by its task wire id (or the proplet id). */
  inboxSubject(kind: InboxKind, id: string): string;
  /** `<p>.errors.<source>` — core NATS (not stored): rejected input reported by a service, e.g. `errors.gateway`. */
  errorSubject(source: string): string;
  /** Durable consumer names are prefixed so two prefixes never share one. */
  durable(name: string): string;
}

/** Kinds of device message kept in the inbox stream. */
export type InboxKind = 'results' | 'task_started' | 'registry_request';

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

function checkToken(kind: string, value: string): string {
  if (!TOKEN_RE.test(value)) {
    throw InvalidError.field(kind, value, 'must match [A-Za-z0-9_-]+');
  }
  return value;
}

/** Builds every NATS name from one prefix (default `propeller`). */
export function natsNames(prefix: string = DEFAULT_NATS_PREFIX): NatsNames {
  if (!PREFIX_RE.test(prefix)) {
    throw InvalidError.field('PROPELLER_NATS_PREFIX', prefix, 'must be 1-64 characters of [A-Za-z0-9_-]');
  }
  const p = prefix;
  const P = prefix.toUpperCase().replace(/-/g, '_');
  return {
    prefix: p,
    stream: `${P}_EVENTS`,
    streamSubjects: `${p}.events.>`,
    eventSubject: (aggregate, id) => `${p}.events.${checkToken('aggregate', aggregate)}.${encodeIdToken(id)}`,
    eventFilter: (aggregate) => `${p}.events.${checkToken('aggregate', aggregate)}.*`,
    parseEventSubject(subject) {
      const head = `${p}.events.`;
      if (!subject.startsWith(head)) throw InvalidError.field('subject', subject, `must start with ${head}`);
      const rest = subject.slice(head.length).split('.');
      if (rest.length !== 2 || !rest[0] || !rest[1]) throw InvalidError.field('subject', subject, `must be ${head}<aggregate>.<id>`);
      return { aggregate: rest[0], id: decodeIdToken(rest[1]) };
    },
    commandSubject: (aggregate, name) => `${p}.commands.${checkToken('aggregate', aggregate)}.${checkToken('command', name)}`,
    commandFilter: (aggregate) => `${p}.commands.${checkToken('aggregate', aggregate)}.*`,
    leaderCommandSubject: (aggregate, name) => `${p}.leader.${checkToken('aggregate', aggregate)}.${checkToken('command', name)}`,
    parseCommandSubject(subject) {
      const head = `${p}.commands.`;
      if (!subject.startsWith(head)) throw InvalidError.field('subject', subject, `must start with ${head}`);
      const rest = subject.slice(head.length).split('.');
      if (rest.length !== 2 || !rest[0] || !rest[1]) throw InvalidError.field('subject', subject, `must be ${head}<aggregate>.<name>`);
      return { aggregate: rest[0], name: rest[1] };
    },
    commandQueue: (aggregate) => `${p}-commands-${checkToken('aggregate', aggregate)}`,
    dlqSubject: (consumer) => `${p}.dlq.${checkToken('consumer', consumer)}`,
    dlqStream: `${P}_DLQ`,
    kv: {
      liveness: `${p}_liveness`,
      leases: `${p}_leases`,
      snapshots: `${p}_snapshots`,
      metrics: `${p}_metrics`,
    },
    modules: `${p}_modules`,
    metricsStream: `${P}_METRICS`,
    metricsSubject: (kind, id) => `${p}.metrics.${kind}.${encodeIdToken(id)}`,
    inboxStream: `${P}_INBOX`,
    inboxSubject: (kind, id) => `${p}.inbox.${checkToken('kind', kind)}.${encodeIdToken(id)}`,
    errorSubject: (source) => `${p}.errors.${checkToken('source', source)}`,
    durable: (name) => `${p}-${checkToken('consumer', name)}`,
  };
}

/**
 * Encodes an id into one NATS KV key token. KV keys allow only `[-/_=.A-Za-z0-9]` and `.` separates
 * tokens, so every other byte (and `.`, `/`, `=`) becomes `=XX` (UTF-8, upper-case hex); common ids
 * (`esp32-7`, UUIDs) stay readable. Same limits as `encodeIdToken`.
 */
export function encodeKvToken(id: string, field = 'id'): string {
  encodeIdToken(id, field);
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of `encodeKvToken`. */
export function decodeKvToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/i.test(hex)) throw InvalidError.field('token', token, 'must use =XX escapes');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
