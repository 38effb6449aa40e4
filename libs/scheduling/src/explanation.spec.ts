import { jsonBytes } from './explanation';

describe('jsonBytes', () => {
  it('is the UTF-8 length of JSON.stringify for the values of an explanation', () => {
    const values: unknown[] = [
      '',
      'esp32-7',
      'say "hi"',
      'back\\slash',
      'tab\there',
      'line\nbreak',
      '\u0001',
      'caf\u00e9',
      '\u{1F680} rocket',
      'lone \ud800 surrogate',
      0,
      -3,
      10_000,
      0.125,
      1e21,
      Number.NaN,
      Infinity,
      [],
      ['a', 'b "c"'],
      [1, undefined, 'x'],
      { key: 'health:offline', rule: 'health', count: 12, examples: ['a', 'b', 'c'], message: '12 proplets are offline, e.g. a, b, c' },
      { kind: 'policy', message: 'roundrobin picked p-1 (next after the start)' },
      { considered: 10_000, feasible: 0, reasons: [], notes: [], omitted: 1_000_000 },
      { a: undefined, b: 1 },
      { nested: { deeper: ['\u00ff', { x: 'y' }] } },
      null,
      true,
    ];
    for (const v of values) expect([v, jsonBytes(v)]).toEqual([v, Buffer.byteLength(JSON.stringify(v), 'utf8')]);
  });
});
