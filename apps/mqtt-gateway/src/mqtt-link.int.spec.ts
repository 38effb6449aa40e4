import { waitFor } from '@propeller/eventstore/testing';
import { connect, type MqttClient } from 'mqtt';
import { pipelineAcks, WITHHOLD_ACK, type PipelinedAcks } from './mqtt-link';
import { TEST_BROKER, testDomainId } from './testing';

// The persistent session reads on while earlier QoS 1 messages are still being stored, but acknowledges
// each only once its handler settled, in arrival order: what the broker redelivers after a crash shows it.

const topic = `t/${testDomainId()}/results`;
const clientId = `pipeline-${testDomainId()}`;
const clients: MqttClient[] = [];

async function open(id: string, clean: boolean, before?: (c: MqttClient) => void): Promise<MqttClient> {
  const c = connect(TEST_BROKER, { clientId: id, clean, protocolVersion: 5, reconnectPeriod: 0, ...(clean ? {} : { properties: { sessionExpiryInterval: 300 } }) });
  clients.push(c);
  // Installed before the CONNACK, as the gateway does: a resumed session's redeliveries come right after it.
  before?.(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** The persistent session as the gateway runs it: handled messages listed, each held until `release(payload)`. */
async function session(inFlight: number, hold: (payload: string) => boolean) {
  const seen: string[] = [];
  const handled: string[] = [];
  const held = new Map<string, () => void>();
  const c = await open(clientId, false, (client) =>
    pipelineAcks(
      client,
      async (_t, payload) => {
        const p = payload.toString();
        seen.push(p);
        if (hold(p)) await new Promise<void>((r) => held.set(p, r));
        handled.push(p);
      },
      inFlight,
    ),
  );
  await c.subscribeAsync(topic, { qos: 1 });
  return { c, seen, handled, release: (p: string) => held.get(p)?.(), held };
}

afterAll(async () => {
  // Drop the persistent session.
  const c = await open(clientId, true);
  await c.endAsync();
  await Promise.all(clients.map((x) => x.endAsync(true).catch(() => undefined)));
});

describe('pipelined PUBACKs of the persistent session (real Mosquitto)', () => {
  it('reads on past a message still being stored, yet after a crash the broker redelivers it and every later one (PUBACKs in order)', async () => {
    const s = await session(256, (p) => p === 'm1');
    const device = await open(`dev-${clientId}`, true);
    for (const m of ['m1', 'm2', 'm3', 'm4']) await device.publishAsync(topic, m, { qos: 1 });
    await waitFor(() => s.handled.length === 3, 'm2..m4 handled while m1 is held');
    expect(s.handled).toEqual(['m2', 'm3', 'm4']);
    // Crash: no DISCONNECT, nothing more sent.
    s.c.end(true);
    const again = await session(256, () => false);
    await waitFor(() => again.handled.length === 4, 'the redelivery');
    expect([...again.handled].sort()).toEqual(['m1', 'm2', 'm3', 'm4']);
    // Those are acknowledged now (their PUBACKs leave a few microtasks after the handlers settle; a clean
    // disconnect writes them before its DISCONNECT): the next session gets nothing of them again.
    await new Promise((r) => setTimeout(r, 100));
    await again.c.endAsync();
    const third = await session(256, () => false);
    await device.publishAsync(topic, 'm5', { qos: 1 });
    await waitFor(() => third.handled.includes('m5'), 'm5');
    expect(third.handled).toEqual(['m5']);
    await third.c.endAsync();
  });

  it('acknowledges what was handled before a clean stop, and withholds what the handler withheld', async () => {
    let stopping = false;
    const handledBefore: string[] = [];
    const withheld: string[] = [];
    let acks: PipelinedAcks | undefined;
    const handler = async (_t: string, payload: Buffer) => {
      if (stopping) {
        withheld.push(payload.toString());
        return WITHHOLD_ACK;
      }
      handledBefore.push(payload.toString());
      return undefined;
    };
    const c = await open(clientId, false, (client) => (acks = pipelineAcks(client, handler, 256)));
    await c.subscribeAsync(topic, { qos: 1 });
    const device = await open(`dev3-${clientId}`, true);
    for (const m of ['k1', 'k2']) await device.publishAsync(topic, m, { qos: 1 });
    await waitFor(() => handledBefore.length === 2, 'k1 and k2 handled');
    stopping = true;
    await device.publishAsync(topic, 'late', { qos: 1 });
    await waitFor(() => withheld.includes('late'), 'late read and withheld');
    await acks?.flushed();
    await c.endAsync();
    const next = await session(256, () => false);
    await waitFor(() => next.handled.includes('late'), 'the withheld message redelivered');
    await device.publishAsync(topic, 'after', { qos: 1 });
    await waitFor(() => next.handled.includes('after'), 'a later message');
    expect(next.handled).toEqual(['late', 'after']);
    await next.c.endAsync();
  });

  it('reads no further than `inFlight` messages being handled', async () => {
    const s = await session(2, (p) => p === 'a' || p === 'b');
    const device = await open(`dev2-${clientId}`, true);
    for (const m of ['a', 'b', 'c']) await device.publishAsync(topic, m, { qos: 1 });
    await waitFor(() => s.held.size === 2, 'a and b held');
    // c waits in the socket until one of them is done.
    await new Promise((r) => setTimeout(r, 300));
    expect(s.seen).toEqual(['a', 'b']);
    s.release('a');
    await waitFor(() => s.seen.includes('c'), 'c read once a is done');
    s.release('b');
    await waitFor(() => s.handled.length === 3, 'all handled');
    await s.c.endAsync();
  });
});
