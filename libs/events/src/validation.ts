import type { z } from 'zod';
import { type FieldIssue, InvalidError, formatValue } from './errors';

type Path = readonly PropertyKey[];

function joinPath(base: string, path: Path): string {
  let out = base;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(input: unknown, path: Path): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Turns zod issues into `FieldIssue`s whose `field` is a dotted path under `base` (e.g. `data.channel.layout`). */
export function toFieldIssues(error: z.ZodError, input: unknown, base = ''): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: joinPath(base, issue.path),
    value: valueAt(input, issue.path),
    rule: issue.message,
  }));
}

/**
 * Parses `input` with `schema` or throws an `InvalidError` whose message starts with `context`
 * and names every failing field with its value, so logs and replies say what to fix.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, context: string, base = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toFieldIssues(result.error, input, base);
  const summary = issues.map((i) => `${i.field}: ${i.rule} (got ${formatValue(i.value)})`).join('; ');
  throw new InvalidError(`${context}: ${summary}`, issues);
}
