import { isInvalid } from '@propeller/events';
import { formatCpu, formatMemory, orThrow, parseCpuMillis, parseMemoryBytes } from './quantity';

describe('Kubernetes quantities', () => {
  it.each([
    ['500m', 500],
    ['1', 1000],
    ['2.5', 2500],
    ['0.1', 100],
    ['.5', 500],
    ['1e3', 1_000_000],
    ['1E-3', 1],
    ['1k', 1_000_000],
    ['250000u', 250],
    ['1n', 1], // below a millicore rounds up, as Kubernetes does
    ['+2', 2000],
    [2, 2000],
    [0.25, 250],
    ['0', 0],
  ])('reads cpu %p as %p millicores', (input, millis) => {
    expect(orThrow(parseCpuMillis(input))).toBe(millis);
  });

  it.each([
    ['512Mi', 512 * 2 ** 20],
    ['2Gi', 2 * 2 ** 30],
    ['1G', 1e9],
    ['1e3', 1000],
    ['1.5Ki', 1536],
    ['128974848', 128974848],
    ['129M', 129e6],
    ['1Ti', 2 ** 40],
    ['1m', 1], // a thousandth of a byte rounds up to one byte
    [1024, 1024],
  ])('reads memory %p as %p bytes', (input, bytes) => {
    expect(orThrow(parseMemoryBytes(input))).toBe(bytes);
  });

  it.each([['abc'], [''], [' 1'], ['1 Gi'], ['-1'], ['1gi'], ['1.2.3'], ['Mi'], ['1e999'], ['1Ei5'], [Number.NaN], [-3], [Infinity]])(
    'refuses %p with an InvalidError naming the field',
    (input) => {
      const r = parseMemoryBytes(input as string | number, 'resourceRequirements.memory');
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(isInvalid(r.error)).toBe(true);
      expect(r.error.issues[0]?.field).toBe('resourceRequirements.memory');
      expect(r.error.message).toContain('resourceRequirements.memory');
      expect(() => orThrow(r)).toThrow(r.error);
    },
  );

  it('refuses a value too large to count exactly', () => {
    const r = parseMemoryBytes('9Ei');
    expect(r.ok).toBe(false);
  });

  it.each([
    [2000, '2'],
    [1500, '1500m'],
    [0, '0'],
  ])('prints %p millicores as %p', (m, s) => expect(formatCpu(m)).toBe(s));

  it.each([
    [2 * 2 ** 30, '2Gi'],
    [1536, '1536'],
    [3 * 2 ** 20, '3Mi'],
    [1000, '1000'],
  ])('prints %p bytes as %p', (b, s) => expect(formatMemory(b)).toBe(s));
});
