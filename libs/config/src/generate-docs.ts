// Writes docs/configuration.md from the schema: `npx tsx libs/config/src/generate-docs.ts`.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderConfigurationDoc } from './docs';

const target = resolve(__dirname, '../../../docs/configuration.md');
writeFileSync(target, renderConfigurationDoc());
process.stdout.write(`wrote ${target}\n`);
