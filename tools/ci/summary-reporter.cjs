// Jest reporter that records each project's totals in tmp/test-results/, so that .ci/run can print
// one closing line for the whole monorepo ("N passed, N failed, N skipped").
const { mkdirSync, writeFileSync } = require('node:fs');
const { join, basename } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const dir = join(__dirname, '..', '..', 'tmp', 'test-results');
    mkdirSync(dir, { recursive: true });
    const name = basename(this.rootDir);
    writeFileSync(
      join(dir, `${name}.json`),
      JSON.stringify({
        project: name,
        passed: results.numPassedTests,
        failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
        skipped: results.numPendingTests + results.numTodoTests,
      }),
    );
  }
}

module.exports = SummaryReporter;
