export * from './crd/types';
export * from './crd/rules';
