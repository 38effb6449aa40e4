/**
 * A knob is one configuration key: how its raw value (an env string or a YAML scalar) is parsed,
 * its default, its documented env aliases, and whether it is a secret. The schema is a tree of knobs;
 * env names, docs, masking and the typed config are all derived from it, so they cannot drift apart.
 */

/** Outcome of parsing one raw value: the typed value, or the reason in words. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason?: string };

export interface KnobOptions {
  /** Documented env names, accepted in addition to `PROPELLER_<UPPER_SNAKE_PATH>`. */
  env?: readonly string[];
  /** Masks the value in logs and in `describeConfig` (default false). */
  secret?: boolean;
}

export interface KnobSpec<T> extends KnobOptions {
  /** Short type name for the docs: `duration`, `size`, `port`, ... */
  type: string;
  /** The allowed form, used verbatim in errors: "a duration such as 30s, 5m, 1h". */
  form: string;
  /** One-line meaning for the docs. */
  doc: string;
  default: T;
  parse(raw: unknown): ParseResult<T>;
  /** Renders a value for logs and docs (default `String`). */
  format?: (value: T) => string;
  /** Masks the secret parts of a value that is not secret as a whole (URLs with credentials). */
  mask?: (value: T) => string;
}

/** One configuration key; `T` is its typed value. */
export class Knob<T> {
  readonly type: string;
  readonly form: string;
  readonly doc: string;
  readonly default: T;
  readonly env: readonly string[];
  readonly secret: boolean;
  private readonly spec: KnobSpec<T>;

  constructor(spec: KnobSpec<T>) {
    this.spec = spec;
    this.type = spec.type;
    this.form = spec.form;
    this.doc = spec.doc;
    this.default = spec.default;
    this.env = spec.env ?? [];
    this.secret = spec.secret ?? false;
  }

  parse(raw: unknown): ParseResult<T> {
    return this.spec.parse(raw);
  }

  /** The value as text, secrets masked. */
  display(value: T): string {
    if (value === undefined || value === null) return '(unset)';
    if (this.secret) return MASK;
    if (this.spec.mask) return this.spec.mask(value);
    return this.spec.format ? this.spec.format(value) : String(value);
  }
}

/** What a masked secret looks like. */
export const MASK = '****';

export const isKnob = (x: unknown): x is Knob<unknown> => x instanceof Knob;
