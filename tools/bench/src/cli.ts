import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { BenchContext, Scenario } from './harness';

/** Where `runBench` reads and writes; `main.ts` passes the real ones, tests their own. */
export interface BenchIo {
  scenarios: readonly Scenario[];
  /** Directory of `<scenario>.json` (the repository's git-ignored `bench-results/`). */
  resultsDir: string;
  out(text: string): void;
  err(text: string): void;
}

/** Facts about the machine saved with every result, so figures from different machines are not compared blindly. */
export function machineInfo(): Record<string, unknown> {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    totalMemoryMb: Math.round(totalmem() / 1048576),
    freeMemoryMb: Math.round(freemem() / 1048576),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}

function usage(scenarios: readonly Scenario[]): string {
  return [
    'usage: npm run bench -- <scenario> [args]',
    '       npm run bench -- --list',
    '',
    `scenarios: ${scenarios.map((s) => s.name).join(', ') || '(none registered)'}`,
  ].join('\n');
}

/** Renders a titled table for people. */
export function renderTable(title: string, rows: ReadonlyArray<Record<string, string | number>>): string {
  const head = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) table.push(head.map((h) => formatCell(r[h])));
  return `${title}\n${table.toString()}`;
}

function formatCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 3 });
  return v;
}

/**
 * `npm run bench -- <scenario> [args]`: runs one scenario, prints its tables, and writes its figures with
 * the machine's facts to `<resultsDir>/<scenario>.json`. Returns the exit status: 0 done, 1 the scenario
 * failed, 2 a usage error (unknown scenario, no scenario).
 */
export async function runBench(argv: readonly string[], io: BenchIo): Promise<number> {
  const [first, ...args] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    (first === undefined ? io.err : io.out)(`${usage(io.scenarios)}\n`);
    return first === undefined ? 2 : 0;
  }
  if (first === '--list') {
    const width = Math.max(0, ...io.scenarios.map((s) => s.name.length));
    io.out(`${io.scenarios.map((s) => `${s.name.padEnd(width)}  ${s.description}`).join('\n')}\n`);
    return 0;
  }
  const scenario = io.scenarios.find((s) => s.name === first);
  if (!scenario) {
    io.err(`unknown scenario "${first}"; known scenarios: ${io.scenarios.map((s) => s.name).join(', ')} (see npm run bench -- --list)\n`);
    return 2;
  }

  const tables: Array<{ title: string; rows: Array<Record<string, string | number>> }> = [];
  const ctx: BenchContext = {
    args,
    log: (line) => io.out(`${line}\n`),
    table: (title, rows) => {
      tables.push({ title, rows });
      io.out(`${renderTable(title, rows)}\n`);
    },
  };
  const startedAt = new Date();
  const t0 = performance.now();
  let results: Record<string, unknown>;
  try {
    results = await scenario.run(ctx);
  } catch (e) {
    io.err(`scenario ${scenario.name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
  const record = {
    scenario: scenario.name,
    description: scenario.description,
    args,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    machine: machineInfo(),
    results,
    tables,
  };
  mkdirSync(io.resultsDir, { recursive: true });
  const file = join(io.resultsDir, `${scenario.name}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  io.out(`results written to ${file}\n`);
  return 0;
}
