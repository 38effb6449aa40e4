export type { BenchContext, Scenario } from './harness';
export { cpuSeconds, elapsedMs, now, percentiles, perSecond, rssMb, summarize } from './stats';
export { machineInfo, renderTable, runBench } from './cli';
export type { BenchIo } from './cli';
