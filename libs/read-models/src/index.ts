export * from './proplets';
export * from './tasks';
export { readModelMigrations } from './migrations';
