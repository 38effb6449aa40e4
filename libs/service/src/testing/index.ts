export { bundleService, byMsg, spawnNode, spawnTs, waitUntilServing } from './spawn';
export type { Exit, LogLine, SpawnedService, SpawnOptions } from './spawn';
