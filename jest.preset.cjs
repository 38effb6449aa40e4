// One Jest preset for every project. Test levels go by suffix (docs/adr/0003-test-levels.md):
//   *.spec.ts      pure and fast
//   *.int.spec.ts  talks to the real NATS, Postgres and Mosquitto on 127.0.0.1
//   *.e2e.spec.ts  runs whole services as processes
// `npm test` runs all three. PROPELLER_TEST_LEVEL=unit|int|e2e narrows a run.
const level = process.env.PROPELLER_TEST_LEVEL;
const byLevel = {
  unit: { match: ['**/*.spec.ts'], ignore: ['\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$'] },
  int: { match: ['**/*.int.spec.ts'], ignore: [] },
  e2e: { match: ['**/*.e2e.spec.ts'], ignore: [] },
};
const selected = byLevel[level] ?? { match: ['**/*.spec.ts'], ignore: [] };

module.exports = {
  testEnvironment: 'node',
  testMatch: selected.match,
  testPathIgnorePatterns: ['/node_modules/', '/dist/', ...selected.ignore],
  transform: {
    '^.+\\.(t|j|mj)sx?$': [
      require.resolve('@swc/jest'),
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      },
    ],
  },
  // @kubernetes/client-node and its auth dependencies ship ESM only.
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  testTimeout: 30000,
  reporters: ['default', require.resolve('./tools/ci/summary-reporter.cjs')],
};
