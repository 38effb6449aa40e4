import { z } from 'zod';
import { AggregateIdSchema, EnvelopeSchema, TaskCreatedDataSchema, TimestampSchema, checkEnvelope, envelopeFieldsValid, makeEnvelope, parseEvent, parseStoredEvent } from './index';
import { exampleEnvelope, testUuid } from './testing';

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

describe('envelopeFieldsValid (the fast check of makeEnvelope)', () => {
  const fields = { id: testUuid(1), aggregateId: 'rpi-1', occurredAt: '2025-06-01T08:00:00.000Z', correlationId: 'c-1' };
  const schema = z.object({ id: z.uuid(), aggregateId: AggregateIdSchema, occurredAt: TimestampSchema, correlationId: z.string().min(1) });
  const cases: Record<string, Record<string, unknown>> = {
    valid: fields,
    'an offset timestamp': { ...fields, occurredAt: '2025-06-01T08:00:00+02:00' },
    'an aggregate id of 200 bytes': { ...fields, aggregateId: 'é'.repeat(100) },
    'an aggregate id of 201 bytes': { ...fields, aggregateId: `${'é'.repeat(100)}x` },
    'an aggregate id of 66 three-byte characters': { ...fields, aggregateId: '€'.repeat(66) },
    'an aggregate id of 67 three-byte characters': { ...fields, aggregateId: '€'.repeat(67) },
    'an empty aggregate id': { ...fields, aggregateId: '' },
    'an id that is not a uuid': { ...fields, id: 'x' },
    'a timestamp without an offset': { ...fields, occurredAt: '2025-06-01T08:00:00' },
    'an empty correlation id': { ...fields, correlationId: '' },
    'a missing correlation id': { ...fields, correlationId: undefined },
  };
  it.each(Object.entries(cases))('agrees with the schema on %s', (_name, f) => {
    const ok = schema.safeParse(f).success;
    expect(envelopeFieldsValid(f as Parameters<typeof envelopeFieldsValid>[0])).toBe(ok);
  });

  it('makeEnvelope still names the field the schema refuses', () => {
    expect(() =>
      makeEnvelope({ event: { type: 'TaskStarted', data: { startedAt: fields.occurredAt } }, aggregateId: '', meta: { correlationId: 'c' }, id: testUuid(2), occurredAt: fields.occurredAt }),
    ).toThrow(/aggregateId/);
  });
});
