export * from './proplets';
export * from './tasks';
