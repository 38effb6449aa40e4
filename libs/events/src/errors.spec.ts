import {
  ConflictError,
  ERROR_CODES,
  InternalError,
  InvalidError,
  NotFoundError,
  NotLeaderError,
  type PropellerError,
  UnschedulableError,
  type WireError,
  fromWireError,
  formatValue,
  isConflict,
  isInternal,
  isInvalid,
  isNotFound,
  isNotLeader,
  isPropellerError,
  isUnschedulable,
  toWireError,
} from './index';

const predicates = {
  NotFound: isNotFound,
  Invalid: isInvalid,
  Conflict: isConflict,
  Unschedulable: isUnschedulable,
  NotLeader: isNotLeader,
  Internal: isInternal,
} as const;

const samples: PropellerError[] = [
  new NotFoundError('task 42 not found', { details: { taskId: '42' } }),
  InvalidError.field('data.maxAttempts', 0, 'must be >= 1'),
  new ConflictError('expected sequence 4, found 5'),
  new UnschedulableError('no proplet fits', { details: { reasons: ['no healthy proplet'] } }),
  new NotLeaderError('fencing token 3 is stale (current 4)'),
  new InternalError('boom'),
];

describe('toWireError / fromWireError', () => {
  it('covers every error code', () => {
    expect(samples.map((e) => e.code).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(samples.map((e) => [e.code, e] as const))('keeps %s and its predicate across a JSON round trip', (code, error) => {
    const wire = JSON.parse(JSON.stringify(toWireError(error))) as WireError;
    const back = fromWireError(wire);
    expect(back).toBeInstanceOf(Error);
    expect(isPropellerError(back)).toBe(true);
    expect(back.code).toBe(code);
    expect(back.message).toBe(error.message);
    expect(back.details).toEqual(error.details);
    for (const [other, is] of Object.entries(predicates)) {
      expect({ other, matches: is(back) }).toEqual({ other, matches: other === code });
    }
  });

  it('keeps the field issues of an InvalidError', () => {
    const back = fromWireError(JSON.parse(JSON.stringify(toWireError(samples[1]))) as WireError);
    if (!isInvalid(back)) throw new Error('not invalid');
    expect(back.issues).toEqual([{ field: 'data.maxAttempts', value: 0, rule: 'must be >= 1' }]);
  });

  it('turns anything else into Internal', () => {
    expect(toWireError(new TypeError('x is undefined'))).toEqual({ code: 'Internal', message: 'x is undefined' });
    expect(toWireError('plain string')).toEqual({ code: 'Internal', message: 'plain string' });
  });

  it('does not mistake a plain wire object for a typed error', () => {
    const wire = toWireError(new NotFoundError('gone'));
    expect(isNotFound(wire)).toBe(false);
    expect(isNotFound(fromWireError(wire))).toBe(true);
  });

  it('recognises a typed error from a second copy of this module by its code, and nothing else', () => {
    const foreign = Object.assign(new Error('lost the race'), { code: 'Conflict' });
    expect([isPropellerError(foreign), isConflict(foreign), isNotFound(foreign)]).toEqual([true, true, false]);
    const nodeError = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(isPropellerError(nodeError)).toBe(false);
  });

  it('keeps a cause out of the wire shape', () => {
    const wire = toWireError(new ConflictError('lost the race', { cause: new Error('secret internals') }));
    expect(JSON.stringify(wire)).not.toContain('secret internals');
  });
});

describe('formatValue', () => {
  it('describes values too deep or cyclic to print instead of throwing', () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(formatValue(deep)).toBe('[array of 1]');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(formatValue(cyclic)).toBe('[object]');
    expect(formatValue('x'.repeat(100))).toMatch(/\.\.\."$/);
  });
});
