// eslint-disable-next-line @nx/enforce-module-boundaries -- tools/start is a tool, not a runtime dependency
import { localStack } from '@propeller/start';
import { batchSizeFor, completedPerSecond, parseEndToEndArgs, perSecondSeries, parseSimLine, retargetPorts, spread, stageBreakdown, type TaskTrace } from './scheduling-e2e';

describe('scheduling bench, end-to-end helpers', () => {
  it('moves every service of npm start onto the bench ports, URL and env alike', () => {
    const specs = localStack({ kubeconfig: false }).slice(0, 5);
    const moved = retargetPorts(specs, [41001, 41002, 41003, 41004, 41005]);
    expect(moved.map((s) => new URL(s.readyUrl ?? '').port)).toEqual(['41001', '41002', '41003', '41004', '41005']);
    moved.forEach((s, i) => {
      const old = new URL(specs[i]?.readyUrl ?? '').port;
      expect(Object.values(s.env)).toContain(String(41001 + i));
      expect(Object.values(s.env)).not.toContain(old);
      expect(s.entry).toBe(specs[i]?.entry);
    });
  });

  it('reads the defaults and refuses a batch over 100', () => {
    expect(parseEndToEndArgs([], 'extension')).toMatchObject({ proplets: 200, seconds: 20, batch: 100, minTasks: 0, halfRate: true });
    expect(parseEndToEndArgs(['--devices', '1000', '--seconds', '30', '--min-tasks', '30000', '--no-half-rate'], 'upstream')).toMatchObject({
      mode: 'upstream',
      proplets: 1000,
      seconds: 30,
      minTasks: 0,
      halfRate: false,
    });
    // --min-tasks sizes part (b); part (c) takes its own.
    expect(parseEndToEndArgs(['--min-tasks', '30000'], 'extension').minTasks).toBe(30000);
    expect(parseEndToEndArgs(['--min-tasks', '30000', '--c-min-tasks', '500'], 'upstream').minTasks).toBe(500);
    expect(() => parseEndToEndArgs(['--batch', '101'], 'extension')).toThrow(/at most 100/);
  });

  it('sends about the asked number of requests a second at an open-loop rate (25 by default)', () => {
    expect(batchSizeFor(500, 100, 10)).toBe(50);
    expect(batchSizeFor(500, 100, 25)).toBe(20);
    expect(batchSizeFor(3, 100, 25)).toBe(1);
    expect(batchSizeFor(5000, 100, 25)).toBe(100);
    expect(parseEndToEndArgs([], 'extension').halfRequestsPerSecond).toBe(25);
    expect(parseEndToEndArgs(['--half-requests-per-second', '10'], 'extension').halfRequestsPerSecond).toBe(10);
  });

  it('parses the simulator lines', () => {
    expect(parseSimLine('s 1b4e28ba 1700000000123')).toEqual({ kind: 'start', wireId: '1b4e28ba', at: 1700000000123 });
    expect(parseSimLine('c 10 2')).toEqual({ kind: 'progress', connected: 10, failed: 2 });
    expect(parseSimLine('x 3 start: file is missing')).toEqual({ kind: 'invalid', count: 3, reason: 'start: file is missing' });
    expect(parseSimLine('done')).toEqual({ kind: 'done' });
  });

  it('counts only tasks finished inside the window', () => {
    const t = (finishedAt?: number): TaskTrace => ({ id: 'x', sentAt: 0, answeredAt: 1, ...(finishedAt === undefined ? {} : { finishedAt }) });
    expect(completedPerSecond([t(999), t(1000), t(1500), t(3000), t(3001), t()], 1000, 3000)).toEqual({ count: 3, perSecond: 1.5 });
  });

  it('counts created and completed tasks per whole second of the window', () => {
    const t = (answeredAt: number, finishedAt?: number): TaskTrace => ({ id: 'x', sentAt: 0, answeredAt, ...(finishedAt === undefined ? {} : { finishedAt }) });
    const series = perSecondSeries([t(500, 1500), t(1000, 2999), t(1999, 3100), t(2500), t(3200, 3300)], 1000, 3400);
    expect(series).toEqual({ created: [2, 1], completed: [1, 1] });
  });

  it('splits a task into its stages and leaves out the stages it never reached', () => {
    const traces: TaskTrace[] = [
      { id: 'a', sentAt: 0, answeredAt: 30, createdAt: 5, scheduledAt: 8, deviceAt: 20, runningAt: 25, finishedAt: 26 },
      { id: 'b', sentAt: 0, answeredAt: 40, createdAt: 6 },
    ];
    const s = stageBreakdown(traces);
    expect(s['TaskCreated → TaskScheduled']).toEqual({ p50: 3, p99: 3, max: 3, n: 1 });
    expect(s['TaskScheduled → start on device']?.p50).toBe(12);
    expect(s['create → start on device']?.p50).toBe(20);
    expect(s['create request → TaskCreated']).toEqual({ p50: 5, p99: 6, max: 6, n: 2 });
    expect(s['create request answered']?.max).toBe(40);
  });

  it('samples evenly, first and last included', () => {
    expect(spread([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).toEqual([1, 5, 9]);
    expect(spread([1, 2], 5)).toEqual([1, 2]);
  });
});
