import { CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE } from './load';
import { knobEntries } from './schema';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/**
 * Renders docs/configuration.md from the schema, so the page cannot drift from the code
 * (a test compares them; regenerate with `npx tsx libs/config/src/generate-docs.ts`).
 */
export function renderConfigurationDoc(): string {
  const rows = knobEntries().map(({ key, knob, envNames }) => {
    const def = knob.default === undefined ? '—' : `\`${knob.display(knob.default)}\``;
    const names = envNames.map((n) => `\`${n}\``).join('<br>');
    return `| \`${key}\` | ${names} | ${def} | ${cell(knob.type)} | ${cell(knob.doc)} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from libs/config/src/schema.ts by `npx tsx libs/config/src/generate-docs.ts`; a test keeps it in sync. -->',
    '',
    `Every service loads the same typed configuration with this precedence: **environment > \`config.yaml\` > defaults**.`,
    `The YAML file is \`${CONFIG_FILE_ENV}\` (default \`${DEFAULT_CONFIG_FILE}\`, relative to the working directory) and has the`,
    'ConfigMap shape: camelCase keys nested by section (`healthMonitor.offlineThreshold` is `offlineThreshold:` under `healthMonitor:`).',
    '',
    '- Every key is also the env var `PROPELLER_<UPPER_SNAKE_PATH>`; the documented names after it are aliases.',
    '  When several are set, the first in the list wins (and a warning is logged if they differ).',
    '- An empty env var or an empty YAML value counts as not set.',
    '- A missing default `config.yaml` is fine; a file named by `PROPELLER_CONFIG` must exist; unreadable or invalid YAML',
    '  stops the service with the file name. Unknown YAML keys and unknown `PROPELLER_*` variables are logged as warnings',
    '  and ignored (a newer ConfigMap must not stop an older replica).',
    '- Durations: `250ms`, `30s`, `5m`, `1h`, `7d`, `1w`, also combined (`1h30m`); a number without a unit is rejected.',
    '- Sizes: `16Mi`, `512Ki`, `1Gi` (binary), `1M`, `1G` (decimal) or a plain number of bytes.',
    '- Lists: a YAML list, or comma-separated in an env var.',
    '- A bad value stops the service within 2 s with the key, where it came from, the value and the allowed form,',
    '  e.g. `OFFLINE_THRESHOLD=5x: expected a duration such as 30s, 5m, 1h, 7d or 250ms`. All bad values are reported at once.',
    '- At start each service logs the effective configuration and the source of each value; passwords, keys and',
    '  credentials inside URLs are masked.',
    '- Knobs of one service only are documented with it: the gateway\'s `GATEWAY_*` in `apps/mqtt-gateway/README.md`;',
    '  Node.js flags (`NODE_OPTIONS=--max-semi-space-size=64` for every service) in the README and `docs/performance.md`.',
    '',
    '| key | env | default | type | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
