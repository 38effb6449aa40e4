import { assertSchemaName } from './db';
import { MigrationFailedError } from './migrate';
import { isValidProjectionName } from './projection';
import { isTransientDbError } from './transient';

describe('names', () => {
  it('accepts plain lower-case schema names and refuses anything that would need quoting', () => {
    expect(assertSchemaName('propeller')).toBe('propeller');
    expect(assertSchemaName('t_0a1b2c')).toBe('t_0a1b2c');
    for (const bad of ['', 'Propeller', '1abc', 'a-b', 'a"b', 'x; drop table y', 'a'.repeat(64)]) {
      expect(() => assertSchemaName(bad)).toThrow(expect.objectContaining({ code: 'Invalid' }));
    }
  });

  it('accepts projection names that fit a lease key and a metric label', () => {
    expect(isValidProjectionName('tasks')).toBe(true);
    expect(isValidProjectionName('task-timeline_v2')).toBe(true);
    expect(isValidProjectionName('')).toBe(false);
    expect(isValidProjectionName('a.b')).toBe(false);
    expect(isValidProjectionName('a b')).toBe(false);
  });
});

describe('isTransientDbError', () => {
  const pgError = (code: string): Error => Object.assign(new Error('pg'), { code });

  it('calls connection failures transient', () => {
    expect(isTransientDbError(pgError('57P01'))).toBe(true); // terminated by administrator
    expect(isTransientDbError(pgError('08006'))).toBe(true); // connection failure
    expect(isTransientDbError(pgError('ECONNRESET'))).toBe(true);
    expect(isTransientDbError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('calls statement failures and application errors not transient, so they stall the projection', () => {
    expect(isTransientDbError(pgError('23505'))).toBe(false); // unique violation
    expect(isTransientDbError(pgError('42P01'))).toBe(false); // undefined table
    expect(isTransientDbError(new Error('poisoned'))).toBe(false);
    expect(isTransientDbError('a string')).toBe(false);
    expect(isTransientDbError(undefined)).toBe(false);
  });
});

describe('MigrationFailedError', () => {
  it('names the migration and keeps the database error as its cause', () => {
    const cause = new Error('relation "x" already exists');
    const e = new MigrationFailedError('20261127T1500_create_x', cause);
    expect(e.message).toBe('migration 20261127T1500_create_x failed: relation "x" already exists');
    expect(e.migration).toBe('20261127T1500_create_x');
    expect(e.cause).toBe(cause);
    expect(e.code).toBe('Internal');
  });
});
