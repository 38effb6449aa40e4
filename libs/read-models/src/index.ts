export * from './proplets';
