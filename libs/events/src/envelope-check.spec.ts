import { EnvelopeSchema, TaskCreatedDataSchema, checkEnvelope, parseEvent, parseStoredEvent } from './index';
import { exampleEnvelope } from './testing';

const valid = () => ({ ...exampleEnvelope('TaskStarted') }) as Record<string, unknown>;

// Each case breaks one field of a valid envelope.
const broken: Record<string, (e: Record<string, unknown>) => void> = {
  'id not a uuid': (e) => (e.id = 'not-a-uuid'),
  'id missing': (e) => delete e.id,
  'type empty': (e) => (e.type = ''),
  'schemaVersion 0': (e) => (e.schemaVersion = 0),
  'schemaVersion 1.5': (e) => (e.schemaVersion = 1.5),
  'schemaVersion a string': (e) => (e.schemaVersion = '1'),
  'aggregate a number': (e) => (e.aggregate = 1),
  'aggregateId empty': (e) => (e.aggregateId = ''),
  'occurredAt not a timestamp': (e) => (e.occurredAt = 'yesterday'),
  'occurredAt without an offset or Z': (e) => (e.occurredAt = '2025-06-01T08:00:00'),
  'correlationId missing': (e) => delete e.correlationId,
  'causationId undefined': (e) => (e.causationId = undefined),
  'traceparent a number': (e) => (e.traceparent = 7),
};

describe('checkEnvelope (the fast envelope check of parseEvent)', () => {
  it('accepts a valid envelope with exactly what EnvelopeSchema gives, extra fields left out', () => {
    const raw = { ...valid(), extra: 'dropped', seq: 9 };
    const fast = checkEnvelope(raw);
    expect(fast).not.toBeNull();
    expect(fast).toStrictEqual(EnvelopeSchema.parse(raw));
    expect(Object.keys(fast ?? {})).toEqual(Object.keys(EnvelopeSchema.shape));
  });

  it('accepts causation and trace ids that are strings, and an offset timestamp', () => {
    const raw = { ...valid(), causationId: 'c-1', traceparent: '00-abc-def-01', occurredAt: '2025-06-01T08:00:00.123+02:00' };
    expect(checkEnvelope(raw)).toStrictEqual(EnvelopeSchema.parse(raw));
  });

  it.each(Object.entries(broken))('leaves an envelope with %s to the schema, which refuses it', (_name, breakIt) => {
    const raw = valid();
    breakIt(raw);
    expect(checkEnvelope(raw)).toBeNull();
    expect(EnvelopeSchema.safeParse(raw).success).toBe(false);
    expect(() => parseEvent(raw)).toThrow(/event envelope/);
  });

  it.each([null, 'x', [], 3])('returns null for %p', (raw) => {
    expect(checkEnvelope(raw)).toBeNull();
  });

  it('parseStoredEvent keeps the sequence and the envelope fields, with the current schema version', () => {
    const raw = { ...valid(), seq: 42 } as Parameters<typeof parseStoredEvent>[0];
    const e = parseStoredEvent(raw);
    expect(e).toStrictEqual({ ...parseEvent(raw), seq: 42 });
    expect(Object.keys(e)).toEqual([...Object.keys(EnvelopeSchema.shape), 'seq']);
  });
});

describe('TaskCreatedDataSchema defaults (applySpecDefaults)', () => {
  const at = '2025-06-01T08:00:00Z';
  it('puts functionName and timeoutMs last, after the other fields in schema order, with their defaults', () => {
    const out = TaskCreatedDataSchema.parse({ name: 'add', imageUrl: 'x', createdAt: at });
    expect(Object.keys(out)).toEqual([
      'name',
      'module',
      'imageUrl',
      'inputs',
      'cliArgs',
      'env',
      'daemon',
      'propletSelector',
      'preferredPropletType',
      'resourceRequirements',
      'maxAttempts',
      'labels',
      'createdAt',
      'functionName',
      'timeoutMs',
    ]);
    expect(out).toMatchObject({ functionName: 'add', timeoutMs: 600_000, module: null, daemon: false });
  });

  it('gives a daemon no timeout, keeps given values, and keeps an owner', () => {
    const owner = { namespace: 'ns', name: 'n', uid: 'u' };
    expect(TaskCreatedDataSchema.parse({ name: 'd', imageUrl: 'x', daemon: true, owner, createdAt: at })).toMatchObject({ timeoutMs: null, functionName: 'd', owner });
    expect(TaskCreatedDataSchema.parse({ name: 'd', functionName: 'f', imageUrl: 'x', timeoutMs: 5, createdAt: at })).toMatchObject({ functionName: 'f', timeoutMs: 5 });
    expect(TaskCreatedDataSchema.parse({ name: 'd', imageUrl: 'x', timeoutMs: null, createdAt: at }).timeoutMs).toBeNull();
  });
});
