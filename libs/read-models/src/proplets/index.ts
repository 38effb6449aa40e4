export type { PropletsTable, ReadModelTables, RowHealth } from './table';
export { propletsMigrations } from './migrations';
export {
  ACTIVE_HEALTH,
  DEFAULT_LIMIT,
  INACTIVE_HEALTH,
  MAX_LIMIT,
  getProplet,
  getPropletOrThrow,
  isActiveHealth,
  listProplets,
  toView,
  type ListPropletsQuery,
  type PropletPage,
  type PropletView,
} from './queries';
export { deleteAllProplets, deleteProplet, loadPropletState, upsertProplet, type PropletRowInput } from './writes';
