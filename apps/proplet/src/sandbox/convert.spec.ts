import { isInvalid } from '@propeller/events';
import { convertInput, convertInputs, formatResult } from './convert';

const invalid = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    expect(isInvalid(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected an InvalidError');
};

describe('convertInput', () => {
  it.each([
    ['42', 42],
    [' 42 ', 42],
    ['-2147483648', -2147483648],
    ['4294967295', -1],
    ['0x10', 16],
    [7, 7],
  ])('converts %p to i32 %p', (input, expected) => {
    expect(convertInput(input, 'i32')).toBe(expected);
  });

  it.each([['2147483648x'], ['4294967296'], ['-2147483649'], ['1.5'], [''], [1.5], [true], [null]])('refuses %p as i32', (input) => {
    expect(convertInput(input, 'i32')).toBeUndefined();
  });

  it('converts i64 without precision loss, both signed and unsigned spellings', () => {
    expect(convertInput('9223372036854775807', 'i64')).toBe(9223372036854775807n);
    expect(convertInput('-9223372036854775808', 'i64')).toBe(-9223372036854775808n);
    expect(convertInput('18446744073709551615', 'i64')).toBe(-1n);
    expect(convertInput(12, 'i64')).toBe(12n);
  });

  it('refuses i64 values out of range and unsafe JSON numbers', () => {
    expect(convertInput('18446744073709551616', 'i64')).toBeUndefined();
    expect(convertInput(2 ** 60, 'i64')).toBeUndefined();
  });

  it.each([
    ['1.5', 1.5],
    ['-2e3', -2000],
    ['.25', 0.25],
    ['7', 7],
    ['Infinity', Infinity],
    ['-inf', -Infinity],
    [3.25, 3.25],
  ])('converts %p to f64 %p', (input, expected) => {
    expect(convertInput(input, 'f64')).toBe(expected);
  });

  it('converts NaN for floats and refuses words', () => {
    expect(convertInput('NaN', 'f32')).toBeNaN();
    expect(convertInput('abc', 'f32')).toBeUndefined();
    expect(convertInput('1.2.3', 'f64')).toBeUndefined();
    expect(convertInput('', 'f64')).toBeUndefined();
  });
});

describe('convertInputs', () => {
  const add = { params: ['i32', 'i32'] as const, results: ['i32'] as const };

  it('converts every input to its parameter type', () => {
    expect(convertInputs('mix', { params: ['i32', 'i64', 'f32', 'f64'], results: [] }, ['1', '2', '3.5', 4])).toEqual([1, 2n, 3.5, 4]);
  });

  it('names the arity in the error', () => {
    expect(invalid(() => convertInputs('add', { params: [...add.params], results: [...add.results] }, ['1'])).message).toBe(
      'add(i32, i32) takes 2 inputs, got 1',
    );
  });

  it('names the parameter, the value and the expected type', () => {
    expect(invalid(() => convertInputs('add', { params: [...add.params], results: [] }, ['1', 'ten'])).message).toBe(
      'inputs[1]: parameter 1 of add(i32, i32) expects i32 (an integer from -2147483648 to 4294967295) (got "ten")',
    );
  });

  it('refuses a parameter type inputs cannot express', () => {
    expect(invalid(() => convertInputs('v', { params: ['v128'], results: [] }, ['1'])).message).toBe(
      'v(v128): parameter 0 has type v128, which task inputs cannot express',
    );
  });
});

describe('formatResult', () => {
  it('formats the first return value in decimal', () => {
    expect(formatResult(5)).toBe('5');
    expect(formatResult(2880067194370816120n)).toBe('2880067194370816120');
    expect(formatResult([1.5, 2])).toBe('1.5');
    expect(formatResult(undefined)).toBe('');
  });

  it('formats an f32 result with the fewest digits that keep its value', () => {
    expect(formatResult(Math.fround(1.1), 'f32')).toBe('1.1');
    expect(formatResult(Math.fround(1.1), 'f64')).toBe('1.100000023841858');
    expect(formatResult(Math.fround(16777217), 'f32')).toBe('16777216');
  });
});
