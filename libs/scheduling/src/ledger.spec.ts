import { CapacityLedger } from './ledger';

const amount = (cpuMillis: number, memoryBytes = 0) => ({ cpuMillis, memoryBytes });

describe('capacity ledger', () => {
  it('adds up what the tasks on a proplet hold', () => {
    const l = new CapacityLedger();
    l.reserve('t1', 'p', amount(500, 100));
    l.reserve('t2', 'p', amount(250, 50));
    expect(l.reserved('p')).toEqual({ cpuMillis: 750, memoryBytes: 150, tasks: 2 });
    expect(l.reserved('q')).toEqual({ cpuMillis: 0, memoryBytes: 0, tasks: 0 });
    expect(l.get('q')).toBeUndefined();
  });

  it('is idempotent per task: a replayed reserve or release changes nothing', () => {
    const l = new CapacityLedger();
    l.reserve('t1', 'p', amount(500));
    l.reserve('t1', 'p', amount(500));
    expect(l.reserved('p').tasks).toBe(1);
    expect(l.release('t1')).toBe('p');
    expect(l.release('t1')).toBeUndefined();
    expect(l.get('p')).toBeUndefined();
    expect(l.size).toBe(0);
  });

  it('moves a task that is reserved on another proplet', () => {
    const l = new CapacityLedger();
    l.reserve('t1', 'p', amount(500));
    l.reserve('t1', 'q', amount(500));
    expect(l.reserved('p').tasks).toBe(0);
    expect(l.reserved('q')).toEqual({ cpuMillis: 500, memoryBytes: 0, tasks: 1 });
    expect(l.holder('t1')).toBe('q');
  });
});
