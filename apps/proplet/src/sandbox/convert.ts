import { InvalidError } from '@propeller/events';
import type { FuncType, ValType } from '../wasm/module';

/** A task input as it arrives: strings from upstream-style starts, numbers from WAMR-style ones. */
export type TaskInput = string | number;

/** An argument ready for a Wasm call: i64 travels as BigInt, everything else as number. */
export type WasmArg = number | bigint;

const INT = /^[+-]?(\d+|0x[0-9a-f]+)$/i;
const FLOAT = /^[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|0x[0-9a-f]+|infinity|inf|nan)$/i;

const I32_MIN = -(2 ** 31);
const U32_MAX = 2 ** 32 - 1;
const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;

/** What each type accepts, in the words of the error message. */
const EXPECTED: Record<'i32' | 'i64' | 'f32' | 'f64', string> = {
  i32: `i32 (an integer from ${I32_MIN} to ${U32_MAX})`,
  i64: `i64 (an integer from ${I64_MIN} to ${U64_MAX})`,
  f32: 'f32 (a decimal number, Infinity or NaN)',
  f64: 'f64 (a decimal number, Infinity or NaN)',
};

function parseBigInt(text: string): bigint {
  const negative = text.startsWith('-');
  const digits = text.replace(/^[+-]/, '');
  const n = BigInt(digits);
  return negative ? -n : n;
}

function parseFloatStrict(text: string): number | undefined {
  if (!FLOAT.test(text)) return undefined;
  const lower = text.toLowerCase().replace(/^\+/, '');
  if (lower === 'nan' || lower === '-nan') return Number.NaN;
  if (lower === 'inf' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  if (/^-?0x/.test(lower)) return Number(parseBigInt(lower));
  return Number(lower);
}

/**
 * Converts one input to a parameter type, or returns undefined when it does not fit.
 * Integers accept both signed and unsigned spellings (`4294967295` is i32 `-1`), as wasmtime's CLI does.
 */
export function convertInput(value: unknown, type: ValType): WasmArg | undefined {
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' ? undefined : null;
  if (text === null) return undefined;
  switch (type) {
    case 'i32': {
      if (typeof value === 'number') return Number.isInteger(value) && value >= I32_MIN && value <= U32_MAX ? value | 0 : undefined;
      if (text === undefined || !INT.test(text)) return undefined;
      const n = parseBigInt(text);
      return n >= BigInt(I32_MIN) && n <= BigInt(U32_MAX) ? Number(BigInt.asIntN(32, n)) : undefined;
    }
    case 'i64': {
      let n: bigint;
      if (typeof value === 'number') {
        // A number beyond 2^53 has already lost digits; ask for a string instead of guessing.
        if (!Number.isSafeInteger(value)) return undefined;
        n = BigInt(value);
      } else {
        if (text === undefined || !INT.test(text)) return undefined;
        n = parseBigInt(text);
      }
      return n >= I64_MIN && n <= U64_MAX ? BigInt.asIntN(64, n) : undefined;
    }
    case 'f32':
    case 'f64': {
      if (typeof value === 'number') return value;
      return text === undefined ? undefined : parseFloatStrict(text);
    }
    default:
      return undefined;
  }
}

/**
 * Converts a task's inputs to the arguments of export `name` with signature `type`.
 * Throws `InvalidError` naming the export, the parameter, the value and the expected type.
 */
export function convertInputs(name: string, type: FuncType, inputs: readonly unknown[]): WasmArg[] {
  const signature = `${name}(${type.params.join(', ')})`;
  if (inputs.length !== type.params.length) {
    throw new InvalidError(`${signature} takes ${type.params.length} input${type.params.length === 1 ? '' : 's'}, got ${inputs.length}`, [
      { field: 'inputs', value: inputs.length, rule: `exactly ${type.params.length} inputs` },
    ]);
  }
  return type.params.map((param, i) => {
    if (param !== 'i32' && param !== 'i64' && param !== 'f32' && param !== 'f64') {
      throw new InvalidError(`${signature}: parameter ${i} has type ${param}, which task inputs cannot express`, [
        { field: `inputs[${i}]`, value: inputs[i], rule: `parameter of type ${param} is not supported` },
      ]);
    }
    const arg = convertInput(inputs[i], param);
    if (arg === undefined) {
      throw InvalidError.field(`inputs[${i}]`, inputs[i], `parameter ${i} of ${signature} expects ${EXPECTED[param]}`);
    }
    return arg;
  });
}

/** The shortest decimal that reads back as the same f32 (`1.1`, not `1.100000023841858`). */
function formatF32(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  for (let p = 1; p <= 9; p++) {
    const s = Number(value.toPrecision(p)).toString();
    if (Math.fround(Number(s)) === value) return s;
  }
  return value.toString();
}

/** Formats a call's first return value as upstream does: decimal text, i64 exact, f32 shortest, "" for no result. */
export function formatResult(value: unknown, type?: ValType): string {
  const first = Array.isArray(value) ? (value[0] as unknown) : value;
  if (first === undefined) return '';
  if (typeof first === 'number' && type === 'f32') return formatF32(first);
  if (typeof first === 'bigint' || typeof first === 'number') return first.toString();
  return String(first);
}
