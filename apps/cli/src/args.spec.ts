import { parseDurationOption, parseInputs, parseIntOption, parseKeyValue, parseLabels } from './args';
import { UsageError } from './output';

describe('parseInputs', () => {
  it('sends plain decimal numbers as numbers and everything else as strings', () => {
    expect(parseInputs('2,3')).toEqual([2, 3]);
    expect(parseInputs('-1, 2.5 ,abc')).toEqual([-1, 2.5, 'abc']);
  });

  it('keeps integers a JS number would round (i64 inputs) as exact strings', () => {
    expect(parseInputs('9007199254740993')).toEqual(['9007199254740993']);
  });

  it('keeps numbers whose text would change as strings (007, 1.50)', () => {
    expect(parseInputs('007,1.50')).toEqual(['007', '1.50']);
  });

  it('gives no inputs for an empty list', () => {
    expect(parseInputs('')).toEqual([]);
  });
});

describe('key=value options', () => {
  it('splits on the first = so values may contain =', () => {
    expect(parseKeyValue('a=b=c', '--label')).toEqual(['a', 'b=c']);
  });

  it('refuses a missing key or = naming the option and the value', () => {
    expect(() => parseKeyValue('=x', '--selector')).toThrow(new UsageError('--selector: "=x" must be key=value with a non-empty key'));
    expect(() => parseKeyValue('site', '--selector')).toThrow(UsageError);
  });

  it('folds repeated labels, the later key winning', () => {
    expect(parseLabels(['a=1', 'b=2', 'a=3'], '--label')).toEqual({ a: '3', b: '2' });
  });
});

describe('numbers and durations', () => {
  it('parses durations in the config grammar', () => {
    expect(parseDurationOption('30s', '--timeout')).toBe(30_000);
    expect(parseDurationOption('1m30s', '--timeout')).toBe(90_000);
  });

  it('refuses a duration without a unit, naming the option', () => {
    expect(() => parseDurationOption('30', '--timeout')).toThrow(/--timeout: "30" must be a positive duration/);
  });

  it('refuses integers below the minimum', () => {
    expect(parseIntOption('5', '--limit', 1)).toBe(5);
    expect(() => parseIntOption('0', '--limit', 1)).toThrow(/--limit: "0" must be an integer >= 1/);
    expect(() => parseIntOption('1.5', '--offset')).toThrow(UsageError);
  });
});
