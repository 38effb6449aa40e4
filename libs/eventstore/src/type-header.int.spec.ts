import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { HEADER_TYPE } from '@propeller/events';
import { encodeEnvelope, envelopeHeaders } from './codec';
import { cleanup, connectTest, testEnvelope, testNames } from './testing';
import { provision } from './provision';
import { msgIdHeader, rawHeaderBlock, typeHeader } from './type-header';

const names = testNames();
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectTest('eventstore-type-header-int');
  await provision(nc, names);
});

afterAll(async () => {
  await cleanup(nc, names);
  await nc.close();
});

const hdrs = (...pairs: Array<[string, string]>): MsgHdrs => {
  const h = headers();
  for (const [k, v] of pairs) h.append(k, v);
  return h;
};

// Header sets as they may reach a consumer; the raw reader must answer what `m.headers.get` answers.
const cases: Array<[string, MsgHdrs | undefined]> = [
  ['an appended envelope', envelopeHeaders(testEnvelope('th', 'x', { type: 'TaskScheduled' }))],
  ['no headers', undefined],
  ['other headers only', hdrs(['Propeller-Schema', '1'])],
  ['the type first', hdrs([HEADER_TYPE, 'TaskRunning'], ['Propeller-Schema', '2'])],
  ['the type twice', hdrs([HEADER_TYPE, 'First'], [HEADER_TYPE, 'Second'])],
  ['the key in other letters', hdrs(['propeller-type', 'lower'])],
  ['a key ending in the type key', hdrs(['X-Propeller-Type', 'prefixed'], [HEADER_TYPE, 'Real'])],
  ['a key starting with the type key', hdrs(['Propeller-Types', 'plural'])],
  ['padding around the value', hdrs([HEADER_TYPE, '  Padded  '])],
  ['an empty value', hdrs([HEADER_TYPE, ''], ['Propeller-Schema', '1'])],
  ['a non-ASCII value', hdrs([HEADER_TYPE, 'Tâche✓'])],
];

describe('typeHeader', () => {
  it('reads the type header of every stored message as MsgHdrs would, straight from the header block', async () => {
    const js = jetstream(nc);
    for (const [i, [, h]] of cases.entries()) {
      const subject = names.eventSubject('th', `m${i}`);
      await js.publish(subject, encodeEnvelope(testEnvelope('th', `m${i}`)), { ...(h ? { headers: h } : {}), msgID: `th-${i}` });
    }
    const consumer = await js.consumers.get(names.stream, { filter_subjects: names.eventFilter('th') });
    const seen: Array<{ name: string; raw: boolean; fast: string; decoded: string; afterDecode: string; rawAfterDecode: boolean; msgId: string }> = [];
    const messages = await consumer.fetch({ max_messages: cases.length, expires: 5_000 });
    for await (const m of messages as AsyncIterable<JsMsg>) {
      const name = cases[seen.length]?.[0] ?? '?';
      const raw = rawHeaderBlock(m) !== null;
      const fast = typeHeader(m);
      const msgId = msgIdHeader(m);
      const decoded = m.headers?.get(HEADER_TYPE) ?? '';
      // The message id (the event store's envelope id), read raw and then decoded, agrees too.
      expect({ name, msgId }).toEqual({ name, msgId: m.headers?.get('Nats-Msg-Id') });
      expect(msgIdHeader(m)).toBe(msgId);
      seen.push({ name, raw, fast, decoded, afterDecode: typeHeader(m), rawAfterDecode: rawHeaderBlock(m) !== null, msgId });
    }
    expect(seen.map((s) => s.name)).toEqual(cases.map(([name]) => name));
    for (const s of seen) {
      // This client version keeps the header block where the reader looks (else it would silently fall back).
      expect({ name: s.name, raw: s.raw }).toEqual({ name: s.name, raw: true });
      expect({ name: s.name, type: s.fast }).toEqual({ name: s.name, type: s.decoded });
      // Once decoded, the reader uses the decoded headers and still agrees.
      expect({ name: s.name, rawAfterDecode: s.rawAfterDecode, type: s.afterDecode }).toEqual({ name: s.name, rawAfterDecode: false, type: s.decoded });
    }
    expect(seen.map((s) => s.decoded)).toEqual(['TaskScheduled', '', '', 'TaskRunning', 'First', '', 'Real', '', 'Padded', '', 'Tâche✓']);
    expect(seen.map((s) => s.msgId)).toEqual(cases.map((_, i) => `th-${i}`));
  });
});
