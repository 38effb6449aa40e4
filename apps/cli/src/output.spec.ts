import { createServer } from 'node:net';
import { ApiClient, ApiError, ApiUnreachableError } from './client';
import { describeError, EXIT, TaskFailedError, UsageError } from './output';
import { failureMessage, progressLine } from './commands/run';
import { selectorLine, taskDetails } from './views';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('errors for people', () => {
  it('lists every rejected field with its value and rule', () => {
    const e = new ApiError(400, 'Invalid', 'body: inputs.0: must be a string or number', { issues: [{ field: 'inputs.0', value: { a: 1 }, rule: 'must be a string or number' }, { field: 'name', rule: 'is required' }] }, 'POST', '/tasks');
    expect(describeError(e)).toEqual({
      text: 'error: Invalid (HTTP 400): body: inputs.0: must be a string or number\n  field inputs.0 = {"a":1}: must be a string or number\n  field name: is required',
      code: EXIT.failed,
    });
  });

  it('gives distinct exit codes to usage errors, an unreachable API and a failed task', () => {
    expect(describeError(new UsageError('x')).code).toBe(EXIT.usage);
    expect(describeError(new ApiUnreachableError('http://h:1', 'connection refused')).code).toBe(EXIT.unreachable);
    expect(describeError(new TaskFailedError('task t failed', {})).code).toBe(EXIT.failed);
  });

  it('names the API address and npm start when the connection is refused', async () => {
    const port = await closedPort();
    const client = new ApiClient(`http://127.0.0.1:${port}/`);
    const e = await client.get('/proplets').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiUnreachableError);
    expect((e as Error).message).toBe(
      `cannot reach the Propeller API at http://127.0.0.1:${port} (connection refused). Start the control plane with \`npm start\` in the repository, or point --api (or PROPELLER_API) at a running API.`,
    );
  });
});

describe('propeller run progress', () => {
  const task = (over: Record<string, unknown>) => ({ id: 't1', status: 'pending', attempt: 1, proplet_id: null, ...over });

  it('reports a status change with the proplet, and nothing when nothing changed', () => {
    const a = task({ status: 'scheduled', proplet_id: 'rpi-1' });
    expect(progressLine(undefined, a)).toBe('task t1: scheduled on rpi-1');
    expect(progressLine(a, { ...a, updated_at: 'later' })).toBeUndefined();
    expect(progressLine(a, { ...a, status: 'running' })).toBe('task t1: running on rpi-1');
  });

  it('shows why a pending task waits and which attempt a retry is', () => {
    expect(progressLine(undefined, task({ unschedulable_reasons: ['1 proplet lacks capability gpu, e.g. rpi-1'] }))).toBe('task t1: pending: waiting, 1 proplet lacks capability gpu, e.g. rpi-1');
    expect(progressLine(task({}), task({ status: 'scheduled', proplet_id: 'k8s-2', attempt: 2 }))).toBe('task t1: scheduled on k8s-2 (attempt 2)');
  });

  it('says why a task failed, or that it was stopped', () => {
    expect(failureMessage(task({ status: 'failed', proplet_id: 'p', error: 'unreachable executed' }))).toBe('task t1 failed on p: unreachable executed');
    expect(failureMessage(task({ status: 'failed', failure_reason: 'timeout after 2 attempts' }))).toBe('task t1 failed: timeout after 2 attempts');
    expect(failureMessage(task({ status: 'stopped' }))).toBe('task t1 was stopped');
  });
});

describe('task details for people', () => {
  it('shows the selector rule by rule and the timeout as a duration', () => {
    const text = taskDetails({ id: 't1', status: 'pending', state: 0, timeout_ms: 600_000, proplet_selector: { proplet_id: 'rpi-1', match_capabilities: ['gpu', 'wasm'], match_labels: { zone: 'north' } } });
    expect(text).toMatch(/selector\s.*proplet id rpi-1; capabilities gpu, wasm; labels zone=north/);
    expect(text).toMatch(/timeout\s.*10m per attempt/);
    expect(selectorLine({})).toBe('-');
  });
});

describe('an API address fetch refuses outright', () => {
  it('names the reason fetch gives (a port browsers and undici block)', async () => {
    const e = await new ApiClient('http://127.0.0.1:1').get('/proplets').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiUnreachableError);
    expect((e as ApiUnreachableError).reason).toBe('bad port');
  });
});
