import { InternalError, InvalidError } from '@propeller/events';
import { isRetryableCommandError, metricsKvKey, withRetry } from './nats';

describe('withRetry', () => {
  it('tries again after each delay and returns the first success', async () => {
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls += 1;
        if (calls < 3) throw new InternalError('no reply in time');
        return 'ok';
      },
      () => true,
      [1, 1, 1],
    );
    expect({ value, calls }).toEqual({ value: 'ok', calls: 3 });
  });

  it('gives up after the last delay with the last error', async () => {
    let calls = 0;
    const attempt = withRetry(
      async () => {
        calls += 1;
        throw new InternalError(`failure ${calls}`);
      },
      () => true,
      [1, 1],
    );
    await expect(attempt).rejects.toThrow('failure 3');
    expect(calls).toBe(3);
  });

  it('does not retry a refusal', async () => {
    let calls = 0;
    const attempt = withRetry(
      async () => {
        calls += 1;
        throw InvalidError.field('propletId', '', 'must be non-empty');
      },
      isRetryableCommandError,
      [1, 1],
    );
    await expect(attempt).rejects.toThrow(InvalidError);
    expect(calls).toBe(1);
  });
});

describe('isRetryableCommandError', () => {
  it('retries unreachable or internal failures and plain errors, not typed refusals', () => {
    expect(isRetryableCommandError(new InternalError('no service answers'))).toBe(true);
    expect(isRetryableCommandError(new Error('connection closed'))).toBe(true);
    expect(isRetryableCommandError(InvalidError.field('x', 1, 'bad'))).toBe(false);
  });
});

describe('metricsKvKey', () => {
  it('puts proplet and task samples under their own prefix with KV-safe ids', () => {
    expect(metricsKvKey('proplet', 'esp32-7')).toBe('proplet.esp32-7');
    expect(metricsKvKey('task', 'a.b/c')).toBe('task.a=2Eb=2Fc');
  });
});
