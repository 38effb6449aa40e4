import { createMetrics } from './metrics';

describe('createMetrics', () => {
  it('serves Node process metrics and its own metrics as Prometheus text', async () => {
    const metrics = createMetrics({ labels: { service: 'scheduler' } });
    metrics.counter({ name: 'propeller_test_total', help: 'test', labelNames: ['kind'] }).inc({ kind: 'a' }, 2);
    const text = await metrics.metricsText();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(/propeller_test_total\{kind="a",service="scheduler"\} 2/);
    expect(metrics.contentType).toContain('text/plain');
  });

  it('returns the same metric when asked twice, and refuses another kind under that name', () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const a = metrics.gauge({ name: 'propeller_x', help: 'x' });
    expect(metrics.gauge({ name: 'propeller_x', help: 'x' })).toBe(a);
    expect(() => metrics.counter({ name: 'propeller_x', help: 'x' })).toThrow(/another kind/);
  });

  it('keeps registries apart', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.counter({ name: 'propeller_only_in_a_total', help: 'a' }).inc();
    expect(await b.metricsText()).not.toContain('propeller_only_in_a_total');
  });
});
