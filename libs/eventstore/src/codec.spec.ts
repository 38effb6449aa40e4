import { EnvelopeSchema, InternalError } from '@propeller/events';
import { decodeEnvelope, encodeEnvelope, readEnvelope } from './codec';
import { testEnvelope } from './testing';

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const valid = (): Record<string, unknown> => ({
  ...testEnvelope('task', 't-1', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', causationId: 'c-0' }),
  data: { propletId: 'p-1', inputs: [1, 2] },
});

// One change each, accepted or refused by the schema; the fast reader must agree with it on every one.
const variants: Array<[string, (e: Record<string, unknown>) => unknown]> = [
  ['as written', (e) => e],
  ['null causation and trace', (e) => ({ ...e, causationId: null, traceparent: null })],
  ['empty causation id', (e) => ({ ...e, causationId: '' })],
  ['an extra field', (e) => ({ ...e, extra: 1 })],
  ['data null', (e) => ({ ...e, data: null })],
  ['data a string', (e) => ({ ...e, data: 'x' })],
  ['offset timestamp', (e) => ({ ...e, occurredAt: '2026-01-02T03:04:05.678+02:00' })],
  ['timestamp without seconds fraction', (e) => ({ ...e, occurredAt: '2026-01-02T03:04:05Z' })],
  ['nil uuid', (e) => ({ ...e, id: '00000000-0000-0000-0000-000000000000' })],
  ['upper-case uuid', (e) => ({ ...e, id: String(e.id).toUpperCase() })],
  ['not a uuid', (e) => ({ ...e, id: 'not-a-uuid' })],
  ['uuid with a bad variant', (e) => ({ ...e, id: '0b7c4e8a-1c2d-4e5f-7a9b-0c1d2e3f4a5b' })],
  ['id missing', ({ id: _, ...e }) => e],
  ['empty type', (e) => ({ ...e, type: '' })],
  ['type a number', (e) => ({ ...e, type: 7 })],
  ['schemaVersion 0', (e) => ({ ...e, schemaVersion: 0 })],
  ['schemaVersion 1.5', (e) => ({ ...e, schemaVersion: 1.5 })],
  ['schemaVersion "1"', (e) => ({ ...e, schemaVersion: '1' })],
  ['schemaVersion past safe integers', (e) => ({ ...e, schemaVersion: 2 ** 60 })],
  ['empty aggregate', (e) => ({ ...e, aggregate: '' })],
  ['aggregateId missing', ({ aggregateId: _, ...e }) => e],
  ['timestamp without zone', (e) => ({ ...e, occurredAt: '2026-01-02T03:04:05' })],
  ['February 30th', (e) => ({ ...e, occurredAt: '2026-02-30T03:04:05Z' })],
  ['a date only', (e) => ({ ...e, occurredAt: '2026-01-02' })],
  ['empty correlation id', (e) => ({ ...e, correlationId: '' })],
  ['causationId missing', ({ causationId: _, ...e }) => e],
  ['traceparent a number', (e) => ({ ...e, traceparent: 1 })],
  ['data missing', ({ data: _, ...e }) => e],
  ['an array', (e) => [e]],
  ['null', () => null],
  ['a string', () => 'TaskCreated'],
];

describe('codec', () => {
  it('round-trips an envelope through its bytes, adding the stream sequence', () => {
    const env = valid();
    const encoded = encodeEnvelope(env as never);
    expect(encoded).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(encoded)).toBe(JSON.stringify(env));
    expect(decodeEnvelope(encoded, 42)).toEqual({ ...env, seq: 42 });
  });

  it('reads a well-formed envelope without the schema, field for field as the schema would', () => {
    const env = valid();
    expect(readEnvelope(env, 7)).toStrictEqual({ ...EnvelopeSchema.parse(env), seq: 7 });
  });

  it.each(variants)('agrees with EnvelopeSchema on an envelope with %s', (_name, change) => {
    const raw = change(valid());
    const schema = EnvelopeSchema.safeParse(raw);
    const fast = readEnvelope(raw, 3);
    if (fast !== null) {
      // Never accepts what the schema refuses, and keeps only the envelope's fields as the schema does.
      expect(schema.success).toBe(true);
      expect(fast).toStrictEqual({ ...schema.data, seq: 3 });
    }
    if (schema.success) {
      expect(decodeEnvelope(bytes(raw), 3)).toStrictEqual({ ...schema.data, seq: 3 });
    } else {
      expect(() => decodeEnvelope(bytes(raw), 3)).toThrow(InternalError);
      expect(() => decodeEnvelope(bytes(raw), 3)).toThrow(/event at sequence 3 is not an envelope/);
    }
  });

  it('takes the fast path for every envelope the schema accepts in this table', () => {
    const slow = variants.filter(([, change]) => {
      const raw = change(valid());
      return EnvelopeSchema.safeParse(raw).success && readEnvelope(raw, 1) === null;
    });
    expect(slow.map(([name]) => name)).toEqual([]);
  });

  it('reports bytes that are not JSON as Internal with their sequence', () => {
    expect(() => decodeEnvelope(new TextEncoder().encode('{"id":'), 9)).toThrow(/event at sequence 9 is not JSON/);
  });
});
