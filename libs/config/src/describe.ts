import { ConfigSources, valueAt } from './load';
import { ConfigKey, knobEntries, PropellerConfig } from './schema';

/** One line of the effective configuration, secrets masked. */
export interface ConfigEntry {
  key: ConfigKey;
  /** The value as text, secrets masked. */
  value: string;
  from: 'default' | 'file' | 'env';
  /** The env var or file the value came from. */
  via?: string;
}

/** The effective configuration as data (for a JSON log line), secrets masked. */
export function configEntries(config: PropellerConfig, sources: ConfigSources): ConfigEntry[] {
  return knobEntries().map(({ key, knob }) => {
    const src = sources[key] ?? { from: 'default' as const };
    const value = knob.display(valueAt(config, key));
    if (src.from === 'env') return { key, value, from: src.from, via: src.name };
    if (src.from === 'file') return { key, value, from: src.from, via: src.file };
    return { key, value, from: src.from };
  });
}

/** Renders the effective configuration, one key a line with where its value came from; secrets masked. */
export function describeConfig(config: PropellerConfig, sources: ConfigSources): string {
  const entries = configEntries(config, sources);
  const width = Math.max(...entries.map((e) => e.key.length));
  return entries
    .map((e) => `${e.key.padEnd(width)}  ${e.value}  (${e.from === 'default' ? 'default' : `${e.from} ${e.via ?? ''}`.trim()})`)
    .join('\n');
}
