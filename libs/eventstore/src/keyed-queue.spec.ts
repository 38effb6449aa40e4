import { backoffDelay, KeyedQueue } from './keyed-queue';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
};

describe('KeyedQueue', () => {
  it('runs the tasks of one key one after another, in the order they were queued', async () => {
    const q = new KeyedQueue();
    const log: string[] = [];
    const first = gate();
    void q.push('a', async () => {
      await first.opened;
      log.push('a1');
    });
    const second = q.push('a', async () => {
      log.push('a2');
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual([]);
    first.open();
    await second;
    expect(log).toEqual(['a1', 'a2']);
  });

  it('lets other keys proceed while one key is blocked', async () => {
    const q = new KeyedQueue();
    const blocked = gate();
    const log: string[] = [];
    void q.push('stuck', async () => {
      await blocked.opened;
      log.push('stuck');
    });
    await q.push('other', async () => {
      log.push('other');
    });
    expect(log).toEqual(['other']);
    blocked.open();
    await q.idle();
    expect(log).toEqual(['other', 'stuck']);
    expect(q.size).toBe(0);
  });

  it('goes on with the next task of a key after one fails', async () => {
    const q = new KeyedQueue();
    const failed = q.push('k', async () => {
      throw new Error('boom');
    });
    const next = q.push('k', async () => undefined);
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('walks a list and repeats its last delay', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay([10, 20, 30], a))).toEqual([10, 20, 30, 30]);
  });

  it('calls a function with the failed attempt and never goes negative', () => {
    expect(backoffDelay((a) => a * 100, 3)).toBe(300);
    expect(backoffDelay(() => -5, 1)).toBe(0);
    expect(backoffDelay([], 2)).toBe(0);
  });
});
