import { createHealth, worstStatus } from './health';

describe('health checks', () => {
  it('passes when every check passes', async () => {
    const health = createHealth();
    health.register('nats', () => true);
    health.register('db', async () => ({ status: 'pass' }));
    expect(await health.report()).toEqual({ status: 'pass', checks: { nats: { status: 'pass' }, db: { status: 'pass' } } });
  });

  it('is degraded when one check is degraded and none fails', async () => {
    const health = createHealth();
    health.register('nats', () => true);
    health.register('projection', () => ({ status: 'degraded', detail: 'tasks stalled at 41' }));
    expect((await health.report()).status).toBe('degraded');
  });

  it('fails on false, on a throw (with its message) and on a timeout', async () => {
    const health = createHealth(50);
    health.register('false', () => false);
    health.register('throws', () => {
      throw new Error('connection refused');
    });
    health.register('slow', () => new Promise<boolean>(() => undefined));
    health.register('degraded', () => ({ status: 'degraded' }));
    const report = await health.report();
    expect(report.status).toBe('fail');
    expect(report.checks).toEqual({
      false: { status: 'fail' },
      throws: { status: 'fail', detail: 'connection refused' },
      slow: { status: 'fail', detail: 'timed out after 50 ms' },
      degraded: { status: 'degraded' },
    });
  });

  it('forgets an unregistered check', async () => {
    const health = createHealth();
    health.register('gone', () => false);
    health.unregister('gone');
    expect(await health.report()).toEqual({ status: 'pass', checks: {} });
  });

  it('ranks fail over degraded over pass', () => {
    expect(worstStatus(['pass', 'fail', 'degraded'])).toBe('fail');
    expect(worstStatus(['pass', 'degraded'])).toBe('degraded');
    expect(worstStatus([])).toBe('pass');
  });
});
