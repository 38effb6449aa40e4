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

  it('keeps a candidate array\'s reservation index in step with reserves, releases and in-place edits', () => {
    const l = new CapacityLedger();
    const ids = ['p', 'q'];
    const ix = l.indexFor(ids);
    expect(l.indexFor(ids)).toBe(ix);
    expect(ix.at(0, 'p').tasks).toBe(0);
    l.reserve('t1', 'p', amount(500));
    expect(ix.at(0, 'p')).toMatchObject({ cpuMillis: 500, tasks: 1 });
    l.release('t1');
    expect(ix.at(0, 'p').tasks).toBe(0);
    expect(l.get('p')).toBeUndefined();
    // The array is edited in place: index 0 is now another proplet.
    l.reserve('t2', 'q', amount(250));
    ids[0] = 'q';
    expect(ix.at(0, 'q')).toMatchObject({ cpuMillis: 250, tasks: 1 });
    // A forgotten proplet that comes back starts from a fresh slot, not the cached one.
    l.reserve('t3', 'p', amount(100));
    expect(ix.at(1, 'p').tasks).toBe(1);
    expect(l.forget('p')).toBe(false); // still holds t3
    l.release('t3');
    expect(l.forget('p')).toBe(true);
    l.reserve('t4', 'p', amount(700));
    expect(ix.at(1, 'p')).toMatchObject({ cpuMillis: 700, tasks: 1 });
  });
});
