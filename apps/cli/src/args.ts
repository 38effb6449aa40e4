import { parseDuration } from '@propeller/config';
import { UsageError } from './output';

/**
 * Parses `--inputs 2,3` into task inputs. A value that is a plain decimal number and survives the round
 * trip through a JS number is sent as a number (WAMR devices need numbers); anything else, including
 * integers beyond 2^53 that an i64 parameter may need, stays a string (the gateway converts per dialect).
 * An empty string gives no inputs.
 */
export function parseInputs(text: string): Array<string | number> {
  if (text.trim() === '') return [];
  return text.split(',').map((raw) => {
    const s = raw.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) {
      const n = Number(s);
      if (Number.isFinite(n) && String(n) === s) return n;
    }
    return s;
  });
}

/** Parses `key=value` (the key non-empty, the value may contain `=`); `what` names the option in the error. */
export function parseKeyValue(text: string, what: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`${what}: "${text}" must be key=value with a non-empty key`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Folds repeated `key=value` options into a map (a later key wins). */
export function parseLabels(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const [k, v] = parseKeyValue(item, what);
    out[k] = v;
  }
  return out;
}

/** Parses `30s`, `500ms`, `5m`, `1h30m` into milliseconds (the same grammar as config.yaml durations). */
export function parseDurationOption(text: string, what: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`${what}: "${text}" must be a positive duration such as 500ms, 30s, 5m or 1h30m`);
  return ms;
}

/** Parses a non-negative integer option. */
export function parseIntOption(text: string, what: string, min = 0): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min) throw new UsageError(`${what}: "${text}" must be an integer >= ${min}`);
  return Number(text);
}

/** Commander collector for options that may be repeated (`--label a=1 --label b=2`). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Splits comma lists in repeated options too (`--capability a,b --capability c` → a, b, c). */
export const collectList = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
];
