import { ResultsInInbox } from './results-in-inbox';

describe('ResultsInInbox', () => {
  it('holds the wire ids it was given and no others', () => {
    const r = new ResultsInInbox(10);
    r.add('w-1');
    r.add('w-2');
    expect(r.has('w-1')).toBe(true);
    expect(r.has('w-2')).toBe(true);
    expect(r.has('w-3')).toBe(false);
  });

  it('forgets the oldest wire id once it holds its capacity, and counts a repeated one once', () => {
    const r = new ResultsInInbox(3);
    for (const id of ['a', 'b', 'a', 'c']) r.add(id);
    expect(r.size).toBe(3);
    r.add('d');
    expect(r.size).toBe(3);
    expect(r.has('a')).toBe(false);
    expect(['b', 'c', 'd'].every((id) => r.has(id))).toBe(true);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new ResultsInInbox(0)).toThrow(RangeError);
    expect(() => new ResultsInInbox(1.5)).toThrow(RangeError);
  });
});
