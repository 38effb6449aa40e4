// Entry of `npm run bench -- <scenario> [args]` (tsx tools/bench/src/main.ts).
import { resolve } from 'node:path';
import { runBench } from './cli';
import { scenarios } from './scenarios';

const resultsDir = process.env['BENCH_RESULTS_DIR'] ?? resolve(__dirname, '../../../bench-results');

runBench(process.argv.slice(2), {
  scenarios,
  resultsDir,
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
}).then(
  // Exit explicitly: a scenario that left a handle open must not keep the command hanging after its results.
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
