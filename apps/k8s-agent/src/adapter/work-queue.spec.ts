import { WorkQueue } from './work-queue';

/** A handler whose calls a test resolves by hand. */
function gatedHandler() {
  const calls: string[] = [];
  const gates: Array<{ key: string; open: () => void; fail: (e: Error) => void }> = [];
  const handler = (key: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push(key);
      gates.push({ key, open: resolve, fail: reject });
    });
  return { calls, gates, handler };
}

/** Waits for a condition, polling every 5 ms, up to 5 s. */
const until = async (cond: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error('condition not met');
};

describe('WorkQueue', () => {
  it('deduplicates a key added several times while it waits', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k), { concurrency: 1 });
    q.pause();
    q.add('Proplet:default/a');
    q.add('Proplet:default/a');
    q.add('Task:default/a');
    q.resume();
    await q.idle();
    expect(seen).toEqual(['Proplet:default/a', 'Task:default/a']);
  });

  it('never runs one key on two workers at once, and runs it again when it was added meanwhile', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handler, { concurrency: 2 });
    q.add('k');
    await until(() => h.calls.length === 1);
    q.add('k');
    q.add('other');
    await until(() => h.calls.length === 2);
    expect(h.calls).toEqual(['k', 'other']);
    h.gates[0]?.open();
    await until(() => h.calls.length === 3);
    expect(h.calls).toEqual(['k', 'other', 'k']);
    h.gates[1]?.open();
    h.gates[2]?.open();
    await q.idle();
  });

  it('retries a failed key with exponential backoff and resets after a success', async () => {
    let failuresLeft = 2;
    const times: number[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(Date.now());
        if (failuresLeft-- > 0) throw new Error('boom');
      },
      { baseDelayMs: 20, maxDelayMs: 1000 },
    );
    q.add('k');
    await until(() => times.length === 3 && q.size === 0);
    expect(q.failuresOf('k')).toBe(0);
    const [a = 0, b = 0, c = 0] = times;
    expect(b - a).toBeGreaterThanOrEqual(15);
    expect(c - b).toBeGreaterThanOrEqual(35);
  });

  it('processes nothing while paused', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k));
    q.pause();
    q.add('k');
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
    q.resume();
    await q.idle();
    expect(seen).toEqual(['k']);
  });
});
