import { BoundedKeyedQueue } from './work-queue';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('BoundedKeyedQueue', () => {
  it('makes the producer wait while the queue is full, and lets it go when a task finishes', async () => {
    const q = new BoundedKeyedQueue(2);
    const first = deferred();
    const second = deferred();
    await q.push('a', () => first.promise);
    await q.push('b', () => second.promise);
    let accepted = false;
    const third = q.push('c', async () => undefined).then(() => (accepted = true));
    await new Promise((r) => setImmediate(r));
    expect(accepted).toBe(false);
    expect(q.depth).toBe(2);
    first.resolve();
    await third;
    expect(accepted).toBe(true);
    second.resolve();
    await q.idle();
    expect(q.depth).toBe(0);
  });

  it('runs the tasks of one key in order and other keys meanwhile', async () => {
    const q = new BoundedKeyedQueue(10);
    const order: string[] = [];
    const slow = deferred();
    await q.push('p1', async () => {
      await slow.promise;
      order.push('p1-offline');
    });
    await q.push('p1', async () => void order.push('p1-alive'));
    await q.push('p2', async () => void order.push('p2-alive'));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['p2-alive']);
    slow.resolve();
    await q.idle();
    expect(order).toEqual(['p2-alive', 'p1-offline', 'p1-alive']);
  });

  it('keeps going after a task that throws', async () => {
    const q = new BoundedKeyedQueue(1);
    await q.push('k', async () => {
      throw new Error('boom');
    });
    let ran = false;
    await q.push('k', async () => void (ran = true));
    await q.idle();
    expect(ran).toBe(true);
    expect(q.depth).toBe(0);
  });
});
