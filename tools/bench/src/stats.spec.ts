import { cpuSeconds, percentiles, perSecond, rssMb, summarize } from './stats';

describe('percentiles', () => {
  it('uses the nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    expect(percentiles(samples, [50, 99, 100])).toEqual({ p50: 50, p99: 99, p100: 100 });
    expect(percentiles([7], [50, 99])).toEqual({ p50: 7, p99: 7 });
    expect(percentiles([1, 2, 3, 4], [50, 75])).toEqual({ p50: 2, p75: 3 });
  });

  it('does not reorder the caller’s samples', () => {
    const samples = [3, 1, 2];
    percentiles(samples, [50]);
    expect(samples).toEqual([3, 1, 2]);
  });

  it('gives NaN for no samples and refuses a percentile outside 0..100', () => {
    expect(percentiles([], [50]).p50).toBeNaN();
    expect(() => percentiles([1], [101])).toThrow(RangeError);
  });
});

describe('summarize and perSecond', () => {
  it('summarizes a sample', () => {
    expect(summarize([1, 2, 3, 4, 10])).toEqual({ count: 5, min: 1, mean: 4, max: 10, p50: 3, p90: 10, p99: 10 });
  });

  it('counts operations per second', () => {
    expect(perSecond(500, 250)).toBe(2000);
  });
});

describe('process figures from /proc', () => {
  it('counts CPU seconds that grow while this process burns CPU', () => {
    const before = cpuSeconds();
    const until = Date.now() + 150;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(cpuSeconds()).toBeGreaterThan(before);
  });

  it('reads the resident memory of this process', () => {
    const rss = rssMb();
    expect(rss).toBeGreaterThan(10);
    expect(rss).toBeLessThan((process.memoryUsage().rss / 1048576) * 1.5);
  });

  it('fails for a process that does not exist', () => {
    expect(() => cpuSeconds(2 ** 30)).toThrow(/ENOENT/);
  });
});
