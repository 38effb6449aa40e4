import { InvalidError } from '@propeller/events';

/**
 * Kubernetes resource quantities (`500m`, `2`, `2.5`, `512Mi`, `1G`, `1e3`), parsed without
 * `@kubernetes/client-node`. Arithmetic is exact (BigInt on the decimal digits), so `0.1` CPU is
 * 100 millicores and not 101; a fraction below the unit is rounded up, as Kubernetes does.
 */

/** A quantity as it arrives from events, CRDs or REST: a string, or a plain number in the base unit (cores, bytes). */
export type Quantity = string | number;

/** The outcome of parsing a quantity: the value, or an `InvalidError` naming the field. */
export type QuantityResult = { ok: true; value: number } | { ok: false; error: InvalidError };

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|([numkMGTPE]))?$/;
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
// Bounds the exponent so that `1e999999` is refused instead of building a huge BigInt.
const MAX_DECIMAL_EXPONENT = 30;
const RULE = 'must be a non-negative Kubernetes quantity such as 500m, 2, 1.5, 512Mi, 2Gi, 1G or 1e3';

/** Parses a quantity into an integer count of `10^scale` units (scale 3: millis, 0: base unit), rounding up. */
function parseScaled(value: Quantity, field: string, scale: number): QuantityResult {
  const fail = (rule: string = RULE): QuantityResult => ({ ok: false, error: InvalidError.field(field, value, rule) });
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return fail();
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return fail();
  }
  const m = QUANTITY_RE.exec(text);
  if (m === null) return fail();
  const [, sign, mantissa = '', binary, exponent, decimal] = m;
  const dot = mantissa.indexOf('.');
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot < 0 ? '' : mantissa.slice(dot + 1);
  const digits = BigInt(`${intPart}${fracPart}` || '0');
  if (sign === '-' && digits !== 0n) return fail();
  let exp10 = scale - fracPart.length;
  let exp2 = 0;
  if (binary !== undefined) exp2 = BINARY_SUFFIX[binary] ?? 0;
  else if (decimal !== undefined) exp10 += DECIMAL_SUFFIX[decimal] ?? 0;
  else if (exponent !== undefined) {
    const e = Number(exponent);
    if (Math.abs(e) > MAX_DECIMAL_EXPONENT) return fail(`${RULE} (exponent out of range)`);
    exp10 += e;
  }
  let n = digits << BigInt(exp2);
  if (exp10 >= 0) n *= 10n ** BigInt(exp10);
  else {
    const d = 10n ** BigInt(-exp10);
    n = (n + d - 1n) / d;
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`${RULE} (too large)`);
  return { ok: true, value: Number(n) };
}

/** Parses a CPU quantity into millicores (`500m` → 500, `2` → 2000, a number is cores). */
export function parseCpuMillis(value: Quantity, field = 'cpu'): QuantityResult {
  return parseScaled(value, field, 3);
}

/** Parses a memory quantity into bytes (`512Mi` → 536870912, `1G` → 1e9, a number is bytes). */
export function parseMemoryBytes(value: Quantity, field = 'memory'): QuantityResult {
  return parseScaled(value, field, 0);
}

/** Returns the parsed value or throws the `InvalidError` naming the field. */
export function orThrow(result: QuantityResult): number {
  if (!result.ok) throw result.error;
  return result.value;
}

/** Formats millicores the way Kubernetes prints them: `2` for whole cores, else `1500m`. */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

const BINARY_UNITS: Array<[string, number]> = [
  ['Ei', 2 ** 60],
  ['Pi', 2 ** 50],
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
];

/** Formats bytes with the largest exact binary suffix (`2Gi`), else as a plain byte count. */
export function formatMemory(bytes: number): string {
  for (const [suffix, size] of BINARY_UNITS) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}
