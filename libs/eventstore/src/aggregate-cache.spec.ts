import { AggregateCache, type CachedAggregate } from './decider';

const entry = (n: number): CachedAggregate<number> => ({ state: n, lastSequence: n, sinceSnapshot: 0 });

/** The LRU rules spelled out on an array, oldest first. */
class ReferenceLru {
  keys: string[] = [];
  constructor(readonly max: number) {}
  use(k: string): void {
    this.keys = [...this.keys.filter((x) => x !== k), k];
  }
  get(k: string): void {
    if (this.keys.includes(k)) this.use(k);
  }
  set(k: string): void {
    this.use(k);
    while (this.keys.length > this.max) this.keys.shift();
  }
  delete(k: string): void {
    this.keys = this.keys.filter((x) => x !== k);
  }
}

describe('AggregateCache', () => {
  it('evicts the least recently used entry; get and set mark an entry used, peek does not', () => {
    const cache = new AggregateCache<number>(3);
    cache.set('t', 'a', entry(1));
    cache.set('t', 'b', entry(2));
    cache.set('t', 'c', entry(3));
    expect(cache.get('t', 'a')?.state).toBe(1);
    expect(cache.peek('t', 'b')?.state).toBe(2);
    cache.set('t', 'd', entry(4));
    // b was only peeked at, so it was the oldest.
    expect(cache.peek('t', 'b')).toBeUndefined();
    cache.set('t', 'c', entry(33));
    cache.set('t', 'e', entry(5));
    expect(cache.peek('t', 'a')).toBeUndefined();
    expect(['c', 'd', 'e'].map((k) => cache.peek('t', k)?.state)).toEqual([33, 4, 5]);
    expect(cache.size).toBe(3);
  });

  it('keeps exactly the entries an LRU keeps over a long random run with evictions, re-sets and deletes', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const max = 50;
    const cache = new AggregateCache<number>(max);
    const reference = new ReferenceLru(max);
    const candidates = [...Array(120).keys()].flatMap((i) => [`k${i}`, `new${i}`]);
    const held = (): string[] => candidates.filter((k) => cache.peek('t', k) !== undefined);
    for (let step = 0; step < 20_000; step++) {
      const key = `k${random(120)}`;
      const op = random(10);
      if (op < 5) {
        cache.set('t', key, entry(step));
        reference.set(key);
      } else if (op < 7) {
        cache.get('t', key);
        reference.get(key);
      } else if (op < 9) {
        cache.peek('t', key);
      } else {
        cache.delete('t', key);
        reference.delete(key);
      }
      if (step % 500 === 0 || step === 19_999) {
        expect(held().sort()).toEqual([...reference.keys].sort());
        expect(cache.size).toBe(reference.keys.length);
      }
    }
    // The eviction order itself: new keys push the old ones out, oldest first, one at a time.
    for (let i = 0; i < max; i++) {
      cache.set('t', `new${i}`, entry(i));
      reference.set(`new${i}`);
      expect(held().sort()).toEqual([...reference.keys].sort());
    }
  });
});
