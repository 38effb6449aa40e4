import { Knob, KnobOptions, MASK, ParseResult } from './knob';

/**
 * Builders for each kind of knob. Each parser accepts what an env var gives (a string) and what YAML
 * gives (a number, boolean, list or string), and is strict: anything it does not fully understand is
 * an error, never a guess.
 */

interface Base extends KnobOptions {
  doc: string;
}

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const bad = <T>(reason?: string): ParseResult<T> => (reason === undefined ? { ok: false } : { ok: false, reason });

// ---------------------------------------------------------------- durations

const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
type DurationUnit = keyof typeof DURATION_UNITS;
// Whole-string grammar: one or more <number><unit> parts, e.g. 250ms, 30s, 1h30m, 1.5h.
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/** Parses `250ms`, `30s`, `5m`, `1h`, `7d`, `1w`, `1h30m` into milliseconds; `undefined` for anything else. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!DURATION_RE.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(DURATION_PART_RE)) {
    total += Number(m[1]) * DURATION_UNITS[m[2] as DurationUnit];
  }
  return Math.round(total);
}

/** Renders milliseconds in the largest unit that divides them: 300000 → `5m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const f = DURATION_UNITS[unit];
    if (ms % f === 0) return `${ms / f}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration, typed as milliseconds. */
export function duration(def: string, o: Base & { min?: string }): Knob<number> {
  const defMs = parseDuration(def);
  if (defMs === undefined) throw new Error(`bad default duration ${def}`);
  const minMs = o.min === undefined ? 1 : parseDuration(o.min) ?? 1;
  const form = `a duration such as 30s, 5m, 1h, 7d or 250ms${o.min ? ` (at least ${o.min})` : ''}`;
  return new Knob<number>({
    ...o,
    type: 'duration',
    form,
    default: defMs,
    format: formatDuration,
    parse(raw) {
      if (typeof raw !== 'string') return bad();
      const ms = parseDuration(raw);
      if (ms === undefined) return bad();
      if (ms < minMs) return bad(`must be at least ${formatDuration(minMs)}`);
      return ok(ms);
    },
  });
}

// ---------------------------------------------------------------- sizes

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};
const SIZE_RE = /^(\d+)\s*([A-Za-z]*)$/;

/** Parses `16Mi`, `512Ki`, `1G` or plain bytes into bytes; `undefined` for anything else. */
export function parseSize(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const m = SIZE_RE.exec(raw.trim());
  if (!m) return undefined;
  const factor = SIZE_UNITS[m[2] ?? ''];
  if (factor === undefined) return undefined;
  const n = Number(m[1]) * factor;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Renders bytes in the largest binary unit that divides them: 16777216 → `16Mi`. */
export function formatSize(bytes: number): string {
  for (const unit of ['Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const f = SIZE_UNITS[unit] as number;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return String(bytes);
}

/** A size in bytes. */
export function size(def: string, o: Base): Knob<number> {
  const defBytes = parseSize(def);
  if (defBytes === undefined) throw new Error(`bad default size ${def}`);
  return new Knob<number>({
    ...o,
    type: 'size',
    form: 'a size such as 16Mi, 512Ki, 1Gi or a number of bytes',
    default: defBytes,
    format: formatSize,
    parse(raw) {
      const n = parseSize(raw);
      return n === undefined || n <= 0 ? bad() : ok(n);
    },
  });
}

// ---------------------------------------------------------------- numbers, booleans, choices

/** An integer within `[min, max]`. */
export function int(def: number, o: Base & { min: number; max: number }): Knob<number> {
  return new Knob<number>({
    ...o,
    type: 'integer',
    form: `an integer from ${o.min} to ${o.max}`,
    default: def,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isInteger(n) && n >= o.min && n <= o.max ? ok(n) : bad();
    },
  });
}

/** A TCP port; 0 asks the OS for a free one (useful in tests). */
export function port<T extends number | undefined>(def: T, o: Base): Knob<T | number> {
  return new Knob<T | number>({
    ...o,
    type: 'port',
    form: 'a port number from 0 to 65535',
    default: def,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isInteger(n) && n >= 0 && n <= 65535 ? ok(n) : bad();
    },
  });
}

/** A share between 0 and 1. */
export function ratio(def: number, o: Base): Knob<number> {
  return new Knob<number>({
    ...o,
    type: 'ratio',
    form: 'a number from 0 to 1, such as 0.5',
    default: def,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d*\.?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isFinite(n) && n >= 0 && n <= 1 ? ok(n) : bad();
    },
  });
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** A boolean: `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`). */
export function bool(def: boolean, o: Base): Knob<boolean> {
  return new Knob<boolean>({
    ...o,
    type: 'boolean',
    form: 'true or false',
    default: def,
    parse(raw) {
      if (typeof raw === 'boolean') return ok(raw);
      if (typeof raw !== 'string') return bad();
      const s = raw.trim().toLowerCase();
      return TRUE.has(s) ? ok(true) : FALSE.has(s) ? ok(false) : bad();
    },
  });
}

/** One of a fixed set of words (exact, case-sensitive). */
export function oneOf<const V extends readonly string[]>(values: V, def: V[number], o: Base): Knob<V[number]> {
  return new Knob<V[number]>({
    ...o,
    type: values.join(' | '),
    form: `one of ${values.join(', ')}`,
    default: def,
    parse(raw) {
      return typeof raw === 'string' && (values as readonly string[]).includes(raw.trim()) ? ok(raw.trim() as V[number]) : bad();
    },
  });
}

/** A list of words: a YAML list, or comma-separated in an env var. */
export function list(def: readonly string[], o: Base): Knob<readonly string[]> {
  return new Knob<readonly string[]>({
    ...o,
    type: 'list',
    form: 'a comma-separated list of words, such as ml,ai,compute',
    default: def,
    format: (v) => v.join(','),
    parse(raw) {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
      if (!items || !items.every((x) => typeof x === 'string' || typeof x === 'number')) return bad();
      return ok(items.map((x) => String(x).trim()).filter((x) => x.length > 0));
    },
  });
}

/** A free-form string; `pattern` restricts it. */
export function text<T extends string | undefined>(def: T, o: Base & { pattern?: RegExp; form?: string }): Knob<T | string> {
  return new Knob<T | string>({
    ...o,
    type: 'string',
    form: o.form ?? 'a non-empty string',
    default: def,
    parse(raw) {
      const s = typeof raw === 'string' ? raw : typeof raw === 'number' ? String(raw) : undefined;
      if (s === undefined || s.length === 0) return bad();
      return o.pattern && !o.pattern.test(s) ? bad() : ok(s);
    },
  });
}

// ---------------------------------------------------------------- URLs

const SENSITIVE_QUERY = /pass|secret|token|key|cred/i;

/** Masks the password in a URL's user info and sensitive query parameters. */
export function maskUrl(value: string): string {
  return value
    .split(',')
    .map((part) => {
      let u: URL;
      try {
        u = new URL(part);
      } catch {
        return part;
      }
      if (u.password) u.password = MASK;
      else if (u.username && /token|key/i.test(part.slice(0, part.indexOf('@')))) u.username = MASK;
      for (const k of [...u.searchParams.keys()]) if (SENSITIVE_QUERY.test(k)) u.searchParams.set(k, MASK);
      // URL encodes '*' in user info; show the mask as written.
      return u.toString().replace(/%2A%2A%2A%2A/g, MASK);
    })
    .join(',');
}

function parseUrl(raw: unknown, schemes: readonly string[], hostPortScheme: string | undefined): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s.length === 0) return undefined;
  if (hostPortScheme !== undefined && /^[A-Za-z0-9.-]+:\d{1,5}$/.test(s)) return `${hostPortScheme}://${s}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!schemes.includes(scheme) || u.hostname.length === 0) return undefined;
  if (u.port !== '' && Number(u.port) === 0) return undefined;
  return s;
}

interface UrlOptions extends Base {
  schemes: readonly string[];
  /** Scheme prefixed to a bare `host:port` (not accepted when absent). */
  hostPort?: string;
  /** Accepts a comma-separated list of URLs (NATS clusters). */
  many?: boolean;
}

/** A URL with one of the given schemes; credentials in it are masked in logs. */
export function url<T extends string | undefined>(def: T, o: UrlOptions): Knob<T | string> {
  const forms = o.schemes.map((s) => `${s}://`);
  if (o.hostPort) forms.unshift('host:port');
  const form = `a URL (${forms.join(', ')})${o.many ? ', comma-separated for several' : ''}`;
  return new Knob<T | string>({
    ...o,
    type: 'url',
    form,
    default: def,
    mask: (v) => (typeof v === 'string' ? maskUrl(v) : String(v)),
    parse(raw) {
      if (typeof raw !== 'string') return bad();
      const parts = o.many ? raw.split(',') : [raw];
      const parsed = parts.map((p) => parseUrl(p, o.schemes, o.hostPort));
      return parsed.every((p): p is string => p !== undefined) ? ok(parsed.join(',')) : bad();
    },
  });
}
