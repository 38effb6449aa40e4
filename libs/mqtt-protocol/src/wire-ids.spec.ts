import { v5 as uuidv5, validate as isUuid, version as uuidVersion } from 'uuid';
import { isInvalid } from '@propeller/events';
import { attemptOfWireId, wireIdFor, WIRE_ID_FALLBACK_NAMESPACE } from './index';

const TASK = '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';

describe('wireIdFor', () => {
  it('sends attempt 1 as the task id itself', () => {
    expect(wireIdFor(TASK, 1)).toBe(TASK);
    expect(wireIdFor('task-7', 1)).toBe('task-7');
  });

  it('sends attempt n ≥ 2 as UUIDv5("attempt/" + n) in the task id namespace', () => {
    expect(wireIdFor(TASK, 2)).toBe(uuidv5('attempt/2', TASK));
    expect(isUuid(wireIdFor(TASK, 2)) && uuidVersion(wireIdFor(TASK, 2))).toBe(5);
  });

  it('is stable: a fixed vector never changes', () => {
    // Pinned so that a change of the rule (which would orphan in-flight results) fails here.
    expect(wireIdFor('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 2)).toBe('882b5094-8244-5c76-91cf-db7fc3ab599b');
    // The value @propeller/events' examples pin for their EXAMPLE_TASK_ID.
    expect(wireIdFor('3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c', 2)).toBe('8eb367ef-29bc-5b72-9f1f-ac71f515ab3e');
  });

  it('gives each attempt its own id, and each task its own ids', () => {
    const ids = new Set<string>();
    for (const task of [TASK, '9d3e0d6c-1f2a-4b3c-8d4e-5f6a7b8c9d0e', 'not-a-uuid']) {
      for (let n = 1; n <= 50; n++) ids.add(wireIdFor(task, n));
    }
    expect(ids.size).toBe(150);
  });

  it('ignores the case of a UUID task id for attempts ≥ 2', () => {
    expect(wireIdFor(TASK.toUpperCase(), 3)).toBe(wireIdFor(TASK, 3));
  });

  it('turns a non-UUID task id into a namespace with the fallback namespace', () => {
    expect(wireIdFor('task-7', 2)).toBe(uuidv5('attempt/2', uuidv5('task-7', WIRE_ID_FALLBACK_NAMESPACE)));
  });

  it.each([
    ['an attempt of 0', TASK, 0],
    ['a fractional attempt', TASK, 1.5],
    ['an empty task id', '', 1],
  ])('refuses %s with an InvalidError', (_name, task, attempt) => {
    let error: unknown;
    try {
      wireIdFor(task, attempt);
    } catch (e) {
      error = e;
    }
    expect(isInvalid(error)).toBe(true);
  });
});

describe('attemptOfWireId', () => {
  it.each([1, 2, 3, 10])('round-trips attempt %i of a UUID task and of a non-UUID task', (n) => {
    expect(attemptOfWireId(TASK, wireIdFor(TASK, n), 10)).toBe(n);
    expect(attemptOfWireId('task-7', wireIdFor('task-7', n), 10)).toBe(n);
  });

  it('reads an upper-case echo of the wire id', () => {
    expect(attemptOfWireId(TASK, wireIdFor(TASK, 2).toUpperCase(), 5)).toBe(2);
    expect(attemptOfWireId(TASK, TASK.toUpperCase(), 5)).toBe(1);
  });

  it.each([
    ['an attempt past maxAttempt', () => wireIdFor(TASK, 6), 5],
    ['another task’s attempt', () => wireIdFor('9d3e0d6c-1f2a-4b3c-8d4e-5f6a7b8c9d0e', 2), 5],
    ['another task’s id', () => '9d3e0d6c-1f2a-4b3c-8d4e-5f6a7b8c9d0e', 5],
    ['garbage', () => 'hello', 5],
    ['an empty id', () => '', 5],
  ])('answers null for %s', (_name, wireId, max) => {
    expect(attemptOfWireId(TASK, wireId(), max)).toBeNull();
  });
});
