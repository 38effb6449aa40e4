/** Where a rejected value came from. */
export type IssueOrigin = 'env' | 'file';

/** One rejected value: the key, where it came from, the value (secrets masked) and the allowed form. */
export interface ConfigIssue {
  /** The dotted config key (or the file itself, for an unreadable file). */
  key: string;
  origin: IssueOrigin;
  /** The env var name, or the file path. */
  name: string;
  /** The rejected value as shown to people (secrets masked). */
  value: string;
  /** The allowed form, e.g. "a duration such as 30s, 5m, 1h". */
  expected: string;
  /** The whole sentence, e.g. `OFFLINE_THRESHOLD=5x: expected a duration such as 30s, 5m, 1h`. */
  message: string;
}

/**
 * The configuration could not be loaded. Carries every problem at once, so an operator fixes them
 * in one go. Its `code` is `Invalid`, the same as `InvalidError` in libs/events, so `isInvalid()` matches it.
 */
export class ConfigError extends Error {
  readonly code = 'Invalid' as const;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const head = issues.length === 1 ? 'invalid configuration' : `invalid configuration (${issues.length} problems)`;
    super(`${head}:\n${issues.map((i) => `  - ${i.message}`).join('\n')}`, options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** True for a `ConfigError` (by name and code, so it also works across module copies). */
export const isConfigError = (e: unknown): e is ConfigError =>
  typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ConfigError' && Array.isArray((e as { issues?: unknown }).issues);
