import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, ConfigIssue } from './errors';
import { formatDuration } from './kinds';
import { Knob, MASK } from './knob';
import { ConfigKey, configSchema, knobEntries, PropellerConfig } from './schema';

/** Where one effective value came from. */
export type ValueSource = { from: 'default' } | { from: 'file'; file: string } | { from: 'env'; name: string };

/** The source of every key. */
export type ConfigSources = Readonly<Record<ConfigKey, ValueSource>>;

/** Env var naming the YAML file. */
export const CONFIG_FILE_ENV = 'PROPELLER_CONFIG';
/** YAML file read when `PROPELLER_CONFIG` is not set, relative to `cwd`. */
export const DEFAULT_CONFIG_FILE = './config.yaml';

export interface LoadConfigOptions {
  /** The environment (pass `process.env`); the loader reads nothing else from the process. */
  env: Readonly<Record<string, string | undefined>>;
  /** Directory the config file path is resolved against. */
  cwd: string;
  /** Name of the service, for the defaults that depend on it (`otel.serviceName`). */
  service: string;
  /** Service-specific defaults, typed values by key (e.g. `{ metricsPort: 9101 }`); still reported as `default`. */
  defaults?: Partial<Record<ConfigKey, unknown>>;
}

export interface LoadedConfig {
  config: PropellerConfig;
  sources: ConfigSources;
  /** The YAML file looked at, and whether it existed. */
  file: { path: string; found: boolean };
  /** Things worth a log line that do not stop the service (unknown keys, an alias shadowed by its canonical name). */
  warnings: string[];
}

type Raw = { value: unknown; source: ValueSource };

/**
 * Loads the configuration: environment > `config.yaml` > defaults. Pure over its inputs (the env and the
 * file). Throws one `ConfigError` listing every bad value, each naming the key, where it came from, the
 * value and the allowed form.
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const { env, cwd, service } = options;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];

  const explicit = nonEmpty(env[CONFIG_FILE_ENV]);
  const filePath = resolvePath(cwd, explicit ?? DEFAULT_CONFIG_FILE);
  const file = readYaml(filePath, explicit !== undefined, issues, warnings);

  const tree: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};

  for (const { key, knob, envNames } of knobEntries()) {
    const raw = pickRaw(key, envNames, env, file.data, filePath, warnings);
    let value: unknown = key in (options.defaults ?? {}) ? options.defaults?.[key] : knob.default;
    if (raw) {
      const parsed = knob.parse(raw.value);
      if (parsed.ok) value = parsed.value;
      else issues.push(issueFor(key, knob, raw, parsed.reason));
    }
    if (key === 'otel.serviceName' && value === undefined) value = service;
    setPath(tree, key, value);
    sources[key] = raw?.source ?? { from: 'default' };
  }

  warnings.push(...unknownEnvWarnings(env));
  const config = tree as unknown as PropellerConfig;
  checkRelations(config, sources as ConfigSources, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return { config: deepFreeze(config), sources: sources as ConfigSources, file: { path: filePath, found: file.found }, warnings };
}

// ------------------------------------------------------------------ sources

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function resolvePath(cwd: string, p: string): string {
  return isAbsolute(p) ? p : resolve(cwd, p);
}

function readYaml(
  path: string,
  explicit: boolean,
  issues: ConfigIssue[],
  warnings: string[],
): { data: Record<string, unknown>; found: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // No file is the normal case outside Kubernetes; a file named explicitly must exist.
    if (code === 'ENOENT' && !explicit) return { data: {}, found: false };
    const why = code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? (e as Error).message})`;
    issues.push(fileIssue(path, explicit ? `${CONFIG_FILE_ENV}=${path}: ${why}` : `${path}: ${why}`, 'a readable YAML file'));
    return { data: {}, found: false };
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first?.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
    issues.push(fileIssue(path, `${path}: invalid YAML${where}: ${first?.code ?? ''} ${firstLine(first?.message)}`.trim(), 'valid YAML'));
    return { data: {}, found: true };
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return { data: {}, found: true };
  if (!isMapping(data)) {
    issues.push(fileIssue(path, `${path}: expected a YAML mapping of sections (nats:, database:, ...) at the top`, 'a YAML mapping'));
    return { data: {}, found: true };
  }
  checkShape(data, configSchema, '', path, issues, warnings);
  return { data, found: true };
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0] ?? '';
}

function fileIssue(path: string, message: string, expected: string): ConfigIssue {
  return { key: '(file)', origin: 'file', name: path, value: path, expected, message };
}

const isMapping = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Sections that are not mappings are errors; unknown keys are warnings (a newer ConfigMap must not stop an older service). */
function checkShape(
  data: Record<string, unknown>,
  schema: Record<string, unknown>,
  prefix: string,
  path: string,
  issues: ConfigIssue[],
  warnings: string[],
): void {
  for (const [name, value] of Object.entries(data)) {
    const key = `${prefix}${name}`;
    const node = schema[name];
    if (node === undefined) {
      warnings.push(`unknown key ${key} in ${path} (ignored)`);
    } else if (!(node instanceof Knob) && value !== null) {
      if (isMapping(value)) checkShape(value, node as Record<string, unknown>, `${key}.`, path, issues, warnings);
      else issues.push({ key, origin: 'file', name: path, value: show(value), expected: 'a mapping', message: `${key} in ${path}: expected a mapping of keys, got ${show(value)}` });
    }
  }
}

function pickRaw(
  key: string,
  envNames: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  data: Record<string, unknown>,
  filePath: string,
  warnings: string[],
): Raw | undefined {
  const set = envNames.filter((n) => nonEmpty(env[n]) !== undefined);
  const first = set[0];
  if (first !== undefined) {
    for (const other of set.slice(1)) {
      if (env[other] !== env[first]) warnings.push(`${other} is ignored for ${key}: ${first} is also set and wins`);
    }
    return { value: env[first], source: { from: 'env', name: first } };
  }
  let node: unknown = data;
  for (const seg of key.split('.')) {
    if (!isMapping(node)) return undefined;
    node = node[seg];
  }
  // A YAML key left empty (`password:`) means "not set", as an empty env var does.
  if (node === undefined || node === null) return undefined;
  return { value: node, source: { from: 'file', file: filePath } };
}

// Names under PROPELLER_ that are not configuration keys but are known to be used elsewhere.
const OTHER_PROPELLER_VARS = new Set([CONFIG_FILE_ENV, 'PROPELLER_TEST_LEVEL']);

/** A `PROPELLER_*` variable that names no key is most likely a typo of one; say so. */
function unknownEnvWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set(knobEntries().flatMap((e) => e.envNames));
  return Object.keys(env)
    .filter((name) => name.startsWith('PROPELLER_') && !known.has(name) && !OTHER_PROPELLER_VARS.has(name))
    .sort()
    .map((name) => `${name} is not a configuration variable (ignored); see docs/configuration.md`);
}

// ------------------------------------------------------------------ errors

function show(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function shownValue(knob: Knob<unknown>, value: unknown): string {
  if (knob.secret) return MASK;
  const s = show(value);
  if (knob.type === 'url') return knob.display(s);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

function issueFor(key: string, knob: Knob<unknown>, raw: Raw, reason: string | undefined): ConfigIssue {
  const value = shownValue(knob, raw.value);
  const expected = reason === undefined ? knob.form : `${knob.form}; ${reason}`;
  const message =
    raw.source.from === 'env'
      ? `${raw.source.name}=${value}: expected ${expected} (key ${key}, from the environment)`
      : `${key}=${value} in ${raw.source.from === 'file' ? raw.source.file : 'defaults'}: expected ${expected}`;
  return { key, origin: raw.source.from === 'env' ? 'env' : 'file', name: raw.source.from === 'env' ? raw.source.name : raw.source.from === 'file' ? raw.source.file : '', value, expected, message };
}

/** Rules between keys, checked only when both keys parsed. */
function checkRelations(config: PropellerConfig, sources: ConfigSources, issues: ConfigIssue[]): void {
  const bad = new Set(issues.map((i) => i.key));
  const hm = config.healthMonitor;
  if (!bad.has('healthMonitor.offlineThreshold') && !bad.has('healthMonitor.failureThreshold') && hm.failureThreshold <= hm.offlineThreshold) {
    const src = sources['healthMonitor.failureThreshold'];
    const value = formatDuration(hm.failureThreshold);
    const expected = `a duration longer than healthMonitor.offlineThreshold (${formatDuration(hm.offlineThreshold)})`;
    const where = src.from === 'env' ? `${src.name}=${value}` : `healthMonitor.failureThreshold=${value}${src.from === 'file' ? ` in ${src.file}` : ' (default)'}`;
    issues.push({
      key: 'healthMonitor.failureThreshold',
      origin: src.from === 'env' ? 'env' : 'file',
      name: src.from === 'env' ? src.name : src.from === 'file' ? src.file : '',
      value,
      expected,
      message: `${where}: expected ${expected}`,
    });
  }
}

// ------------------------------------------------------------------ tree helpers

function setPath(tree: Record<string, unknown>, key: string, value: unknown): void {
  const segs = key.split('.');
  let node = tree;
  for (const seg of segs.slice(0, -1)) {
    node = (node[seg] ??= {}) as Record<string, unknown>;
  }
  node[segs[segs.length - 1] as string] = value;
}

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

/** Reads one value of a typed config by its dotted key. */
export function valueAt(config: PropellerConfig, key: ConfigKey): unknown {
  let node: unknown = config;
  for (const seg of key.split('.')) node = (node as Record<string, unknown>)[seg];
  return node;
}
