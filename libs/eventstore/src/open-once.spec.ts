import { openOnce } from './open-once';

describe('openOnce', () => {
  it('opens once and shares the handle', async () => {
    let opens = 0;
    const get = openOnce(async () => ({ n: ++opens }));
    const [a, b] = await Promise.all([get(), get()]);
    expect(a).toBe(b);
    expect(await get()).toBe(a);
    expect(opens).toBe(1);
  });

  it('tries again after a failed open', async () => {
    let opens = 0;
    const get = openOnce(async () => {
      opens += 1;
      if (opens === 1) throw new Error('bucket not found');
      return 'kv';
    });
    await expect(get()).rejects.toThrow('bucket not found');
    await expect(get()).resolves.toBe('kv');
    expect(opens).toBe(2);
  });
});
