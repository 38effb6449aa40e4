/** What the harness hands to a scenario. */
export interface BenchContext {
  /** Arguments after the scenario name (`npm run bench -- <scenario> [args]`). */
  args: string[];
  /** Prints one line for people. */
  log(line: string): void;
  /** Prints a table for people; it is also saved in the JSON results. */
  table(title: string, rows: Array<Record<string, string | number>>): void;
}

/**
 * One benchmark scenario, registered in `scenarios/index.ts`. It starts whatever it needs and stops it
 * afterwards, and returns its figures, which are written to `bench-results/<name>.json`.
 */
export interface Scenario {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
}
