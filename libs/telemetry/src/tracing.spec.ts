import { trace } from '@opentelemetry/api';
import {
  contextFromTraceparent,
  currentTraceparent,
  extractContext,
  getTracer,
  injectTraceparent,
  startTracing,
  withTraceparent,
} from './tracing';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('traceparent helpers without the SDK', () => {
  it('carries a traceparent through withTraceparent, across an await', async () => {
    const seen = await withTraceparent(TP, async () => {
      await new Promise((r) => setImmediate(r));
      return currentTraceparent();
    });
    expect(seen).toBe(TP);
  });

  it('has no traceparent outside a trace', () => {
    expect(currentTraceparent()).toBeNull();
  });

  it('ignores a malformed traceparent', () => {
    expect(withTraceparent('00-nothex-00f067aa0ba902b7-01', () => currentTraceparent())).toBeNull();
    expect(trace.getSpanContext(contextFromTraceparent(null))).toBeUndefined();
  });

  it('injects into and extracts from MQTT user properties', () => {
    const props = injectTraceparent<Record<string, string>>({ other: 'x' }, contextFromTraceparent(TP));
    expect(props).toEqual({ other: 'x', traceparent: TP });
    expect(trace.getSpanContext(extractContext({ Traceparent: TP }))?.traceId).toBe(TRACE_ID);
  });

  it('records nothing while tracing is off', async () => {
    const tracing = await startTracing({ serviceName: 'api' });
    expect(tracing.enabled).toBe(false);
    const span = getTracer('t').startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
  });
});

describe('startTracing with the SDK', () => {
  it('records spans as children of the remote parent and names the service', async () => {
    const tracing = await startTracing({ enabled: true, exporter: 'memory', serviceName: 'scheduler' });
    try {
      const child = withTraceparent(TP, () =>
        getTracer('test').startActiveSpan('schedule', (span) => {
          const tp = currentTraceparent();
          span.end();
          return tp;
        }),
      );
      expect(child).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
      expect(child).not.toBe(TP);
      const [span] = tracing.memory?.getFinishedSpans() ?? [];
      expect(span?.name).toBe('schedule');
      expect(span?.spanContext().traceId).toBe(TRACE_ID);
      expect(span?.resource.attributes['service.name']).toBe('scheduler');
    } finally {
      await tracing.shutdown();
    }
    expect(getTracer('after').startSpan('x').isRecording()).toBe(false);
  });

  it('writes spans as JSON lines with the console exporter', async () => {
    let written = '';
    const tracing = await startTracing({ enabled: true, serviceName: 'api', out: { write: (t: string) => (written += t) } });
    getTracer('test').startSpan('handle request').end();
    await tracing.shutdown();
    const lines = written.trim().split('\n').map((l) => JSON.parse(l) as { span: Record<string, unknown> });
    expect(lines).toEqual([{ span: expect.objectContaining({ name: 'handle request', service: 'api', traceId: expect.stringMatching(/^[0-9a-f]{32}$/) }) }]);
  });

  it('turns on when an endpoint is set, and says no OTLP exporter is bundled', async () => {
    const tracing = await startTracing({ endpoint: 'http://collector:4318', exporter: 'none', serviceName: 'api' });
    try {
      expect(tracing.enabled).toBe(true);
      expect(tracing.warnings[0]).toContain('no OTLP exporter');
    } finally {
      await tracing.shutdown();
    }
  });
});
