// Fixture for supervisor.spec: prints a line, then exits with code 3 after a short while (or waits for SIGTERM).
console.log(`crasher up pid=${process.pid}`);
if (process.env['CRASH'] === '1') setTimeout(() => process.exit(3), 200);
else {
  process.on('SIGTERM', () => {
    console.log('crasher got SIGTERM');
    process.exit(0);
  });
  setInterval(() => undefined, 1000);
}
