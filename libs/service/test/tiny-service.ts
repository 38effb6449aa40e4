// A tiny service on the shared bootstrap, spawned by run.e2e.spec.ts. FIXTURE_MODE picks a behaviour:
//   ok (default) — starts, registers a check, stops cleanly
//   hang         — its stop never finishes (tests the shutdown timeout)
//   crash        — throws from a timer once started (tests the uncaught-error path)
//   fail-start   — start rejects
import { runService } from '../src';

const mode = process.env['FIXTURE_MODE'] ?? 'ok';

void runService({
  name: 'tiny',
  defaultMetricsPort: 0,
  async start(ctx) {
    if (mode === 'fail-start') throw new Error('cannot reach the fixture database');
    ctx.metrics.counter({ name: 'tiny_started_total', help: 'times the tiny service started' }).inc();
    ctx.health.register('fixture', () =>
      process.env['FIXTURE_DEGRADED'] === '1' ? { status: 'degraded', detail: 'fixture says degraded' } : true,
    );
    if (mode === 'crash') setTimeout(() => { throw new Error('boom from a timer'); }, 50);
    return {
      async stop() {
        if (mode === 'hang') await new Promise(() => undefined);
        ctx.logger.info('fixture stopped');
      },
    };
  },
}).catch(() => {
  // runService has already reported the error and set the exit status.
});
