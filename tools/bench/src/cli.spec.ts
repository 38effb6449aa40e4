import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBench, type BenchIo } from './cli';
import type { Scenario } from './harness';
import { scenarios } from './scenarios';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const echo: Scenario = {
  name: 'echo',
  description: 'returns its arguments',
  async run(ctx) {
    ctx.log('echoing');
    ctx.table('echo', [{ arg: ctx.args[0] ?? '', n: 1234567 }]);
    return { args: ctx.args };
  },
};
const broken: Scenario = {
  name: 'broken',
  description: 'always fails',
  run: async () => {
    throw new Error('no NATS here');
  },
};

function io(list: readonly Scenario[] = [echo, broken]): BenchIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    scenarios: list,
    resultsDir: join(dir, 'bench-results'),
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdout: () => out,
    stderr: () => err,
  };
}

describe('runBench', () => {
  it('runs a scenario, prints its table and writes its figures with the machine facts', async () => {
    const b = io();
    expect(await runBench(['echo', 'hello'], b)).toBe(0);
    expect(b.stdout()).toContain('echoing');
    expect(b.stdout()).toMatch(/hello\s*│\s*1,234,567/);
    const saved = JSON.parse(readFileSync(join(dir, 'bench-results', 'echo.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ scenario: 'echo', args: ['hello'], results: { args: ['hello'] }, tables: [{ title: 'echo' }] });
    expect(saved['machine']).toMatchObject({ cpus: expect.any(Number), node: process.version, date: expect.any(String) });
  });

  it('lists the scenarios with their descriptions', async () => {
    const b = io();
    expect(await runBench(['--list'], b)).toBe(0);
    expect(b.stdout()).toMatch(/^echo\s+returns its arguments\nbroken\s+always fails\n$/);
  });

  it('refuses an unknown scenario, naming the known ones', async () => {
    const b = io();
    expect(await runBench(['ech'], b)).toBe(2);
    expect(b.stderr()).toBe('unknown scenario "ech"; known scenarios: echo, broken (see npm run bench -- --list)\n');
  });

  it('prints usage and fails without a scenario', async () => {
    const b = io();
    expect(await runBench([], b)).toBe(2);
    expect(b.stderr()).toContain('usage: npm run bench -- <scenario> [args]');
  });

  it('reports a failing scenario and writes no results', async () => {
    const b = io();
    expect(await runBench(['broken'], b)).toBe(1);
    expect(b.stderr()).toContain('scenario broken failed: Error: no NATS here');
    expect(existsSync(join(dir, 'bench-results', 'broken.json'))).toBe(false);
  });
});

describe('the scenario registry', () => {
  it('has unique names and a description for each scenario', () => {
    const names = scenarios.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['config', 'eventstore', 'scheduling']));
    for (const s of scenarios) expect(s.description.length).toBeGreaterThan(10);
  });

  it('runs the config scenario end to end', async () => {
    const b = io(scenarios);
    expect(await runBench(['config', '20'], b)).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, 'bench-results', 'config.json'), 'utf8')) as { results: Record<string, { iterations: number }> };
    expect(saved.results['env only']?.iterations).toBe(20);
  });
});
