import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HEADER_TYPE, type StoredEnvelope } from '@propeller/events';
import { cleanup, connectTest, testEnvelope, testNames, waitFor } from './testing';
import { EventStore, listDeadLetters, provision, runConsumer, type ConsumerRunner, type DeadLetter } from './index';

const names = testNames();
let nc: NatsConnection;
let store: EventStore;
const runners: ConsumerRunner[] = [];

beforeAll(async () => {
  nc = await connectTest('eventstore-consumer-int');
  await provision(nc, names);
  store = await EventStore.connect(nc, names);
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await cleanup(nc, names);
  await nc.close();
});

/** Appends `count` events to one aggregate, one at a time, each expecting the previous. */
async function appendMany(aggregate: string, id: string, count: number, type = 'Happened'): Promise<number[]> {
  const { lastSequence } = await store.load(aggregate, id);
  let last = lastSequence;
  const seqs: number[] = [];
  for (let n = 0; n < count; n++) {
    last = (await store.append(aggregate, id, [testEnvelope(aggregate, id, { type, data: { n } })], last)).lastSequence;
    seqs.push(last);
  }
  return seqs;
}

describe('runConsumer', () => {
  it('dead-letters an event after N tries while other aggregates go on, and keeps the failing aggregate in order', async () => {
    const agg = 'pm1';
    const log: string[] = [];
    const poisonTries: number[] = [];
    let poisonIsFixed = false;
    const [poisonSeq] = await appendMany(agg, 'bad', 1, 'Poison');
    const [laterSeq] = await appendMany(agg, 'bad', 1, 'Fine');
    for (let i = 0; i < 10; i++) await appendMany(agg, `good-${i}`, 10);

    const runner = await runConsumer({
      nc,
      names,
      name: 'pm1',
      filterSubject: names.eventFilter(agg),
      maxDeliver: 3,
      backoff: [400, 400],
      handler: (event: StoredEnvelope, ctx) => {
        if (event.type === 'Poison' && !poisonIsFixed) {
          poisonTries.push(ctx.attempt);
          throw new Error('cannot handle poison');
        }
        log.push(`handled ${event.aggregateId} ${(event.data as { n: number }).n} ${event.seq}`);
      },
      onDeadLetter: (letter: DeadLetter) => log.push(`dead ${letter.seq}`),
    });
    runners.push(runner);

    await waitFor(() => runner.stats().handled === 101 && runner.stats().deadLettered === 1, '100 good events, the later bad one and one dead letter');

    // N tries, then the dead letter with its error; nothing else failed.
    expect(poisonTries).toEqual([1, 2, 3]);
    const letters = await listDeadLetters(nc, names, 'pm1');
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      consumer: 'pm1',
      subject: names.eventSubject(agg, 'bad'),
      seq: poisonSeq,
      type: 'Poison',
      attempts: 3,
      envelope: { type: 'Poison', aggregateId: 'bad', seq: poisonSeq },
      error: { code: 'Internal', message: 'cannot handle poison', name: 'Error' },
    });

    // The later event of the failing aggregate ran only after its predecessor was dead-lettered.
    const deadAt = log.indexOf(`dead ${poisonSeq}`);
    const laterAt = log.findIndex((l) => l.startsWith('handled bad ') && l.endsWith(` ${laterSeq}`));
    expect(deadAt).toBeGreaterThanOrEqual(0);
    expect(laterAt).toBeGreaterThan(deadAt);

    // Other aggregates were not held up by the retries (800 ms of backoff), and each stayed in order.
    const goodBeforeDead = log.slice(0, deadAt).filter((l) => l.startsWith('handled good-')).length;
    expect(goodBeforeDead).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) {
      const ns = log.filter((l) => l.startsWith(`handled good-${i} `)).map((l) => Number(l.split(' ')[2]));
      expect(ns).toEqual([...Array(10).keys()]);
    }

    // The runner never stopped: a new event is still handled.
    await appendMany(agg, 'after', 1);
    await waitFor(() => log.some((l) => l.startsWith('handled after ')), 'an event appended after the dead letter');

    // Once the cause is fixed, the operator replays the letter and it leaves the queue.
    poisonIsFixed = true;
    await runner.replay(letters[0]?.dlqSeq ?? -1);
    expect(log.some((l) => l.startsWith('handled bad ') && l.endsWith(` ${poisonSeq}`))).toBe(true);
    expect(await listDeadLetters(nc, names, 'pm1')).toEqual([]);
  });

  it('skips unwanted types by header without parsing them', async () => {
    const agg = 'pm2';
    const seen: string[] = [];
    // Not JSON at all: parsing it would dead-letter it.
    await jetstream(nc).publish(names.eventSubject(agg, 'x'), 'not an envelope', { headers: typed('Unwanted') });
    await appendMany(agg, 'y', 2, 'Wanted');
    const runner = await runConsumer({
      nc,
      names,
      name: 'pm2',
      filterSubject: names.eventFilter(agg),
      types: ['Wanted'],
      handler: (e) => void seen.push(e.type),
    });
    runners.push(runner);
    await waitFor(() => runner.stats().handled === 2, 'two wanted events');
    expect(seen).toEqual(['Wanted', 'Wanted']);
    expect(runner.stats()).toMatchObject({ skipped: 1, deadLettered: 0 });
  });

  it('dead-letters an unreadable event at once, with its raw bytes', async () => {
    const agg = 'pm3';
    await jetstream(nc).publish(names.eventSubject(agg, 'x'), '{broken', { headers: typed('Broken') });
    const runner = await runConsumer({ nc, names, name: 'pm3', filterSubject: names.eventFilter(agg), handler: () => undefined });
    runners.push(runner);
    await waitFor(() => runner.stats().deadLettered === 1, 'the unreadable event dead-lettered');
    const [letter] = await listDeadLetters(nc, names, 'pm3');
    expect(letter).toMatchObject({ type: 'Broken', envelope: null, raw: '{broken', attempts: 0, error: { code: 'Internal' } });
  });

  it('stops gracefully and a new runner with the same name resumes after the last acked event', async () => {
    const agg = 'pm4';
    const handled: number[] = [];
    const handler = (e: StoredEnvelope) => void handled.push(e.seq);
    const first = await runConsumer({ nc, names, name: 'pm4', filterSubject: names.eventFilter(agg), handler });
    const before = await appendMany(agg, 'a', 3);
    await waitFor(() => handled.length === 3, 'the first three events');
    await first.stop();
    await expect(first.done).resolves.toBeUndefined();

    const after = await appendMany(agg, 'a', 2);
    // The stopped runner pulls nothing more: both new events wait on the server, none in flight.
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.consumers.info(names.stream, names.durable('pm4'))).num_pending === 2, 'two pending events');
    expect((await jsm.consumers.info(names.stream, names.durable('pm4'))).num_ack_pending).toBe(0);
    expect(handled).toEqual(before);

    const second = await runConsumer({ nc, names, name: 'pm4', filterSubject: names.eventFilter(agg), handler });
    runners.push(second);
    await waitFor(() => handled.length === 5, 'the two events appended while stopped');
    expect(handled).toEqual([...before, ...after]);
  });

  it('hands an event back when stopped during its backoff, so the next runner tries it again', async () => {
    const agg = 'pm5';
    const tries: string[] = [];
    const failing = await runConsumer({
      nc,
      names,
      name: 'pm5',
      filterSubject: names.eventFilter(agg),
      backoff: [60_000],
      handler: () => {
        tries.push('first runner');
        throw new Error('not yet');
      },
    });
    await appendMany(agg, 'a', 1);
    await waitFor(() => tries.length === 1, 'the first failed try');
    const stopping = Date.now();
    await failing.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(failing.stats().deadLettered).toBe(0);

    const next = await runConsumer({ nc, names, name: 'pm5', filterSubject: names.eventFilter(agg), handler: () => void tries.push('second runner') });
    runners.push(next);
    await waitFor(() => tries.includes('second runner'), 'the event redelivered to the next runner');
    expect(tries).toEqual(['first runner', 'second runner']);
  });

  it('keeps events that wait behind a retry from being redelivered by the server', async () => {
    const agg = 'pm6';
    const handled: number[] = [];
    let failedOnce = false;
    const [slow, waiting] = await appendMany(agg, 'a', 2);
    const runner = await runConsumer({
      nc,
      names,
      name: 'pm6',
      filterSubject: names.eventFilter(agg),
      ackWaitMs: 1_500,
      backoff: [2_000],
      handler: (e) => {
        if (e.seq === slow && !failedOnce) {
          failedOnce = true;
          throw new Error('first try fails');
        }
        handled.push(e.seq);
      },
    });
    runners.push(runner);
    await waitFor(() => handled.length === 2, 'both events');
    expect(handled).toEqual([slow, waiting]);
    // Both waited 2 s, longer than ack_wait: only the keep-alive stopped the server redelivering them.
    expect(runner.stats().redeliveredInFlight).toBe(0);
  });

  it('dead-letters an event whose handler keeps killing its process, once it was delivered too often', async () => {
    const agg = 'pm7';
    const [seq] = await appendMany(agg, 'a', 1);
    // Two runner processes die on the event; the server redelivers it after ack_wait each time.
    for (let run = 1; run <= 2; run++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'testing', 'crashing-consumer.ts')], {
        env: { ...process.env, CONSUMER_PREFIX: names.prefix, CONSUMER_NAME: 'pm7', CONSUMER_FILTER: names.eventFilter(agg), CONSUMER_ACK_WAIT_MS: '500' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      await expect(exit).resolves.toBe('SIGKILL');
      expect(out).toContain(`"seq":${seq}`);
    }
    const handled: number[] = [];
    const runner = await runConsumer({
      nc,
      names,
      name: 'pm7',
      filterSubject: names.eventFilter(agg),
      ackWaitMs: 500,
      maxRedeliveries: 2,
      handler: (e) => void handled.push(e.seq),
    });
    runners.push(runner);
    await waitFor(() => runner.stats().deadLettered === 1, 'the event dead-lettered on its third delivery');
    expect(handled).toEqual([]);
    const [letter] = await listDeadLetters(nc, names, 'pm7');
    expect(letter).toMatchObject({ seq, attempts: 0, error: { code: 'Internal' } });
    // At least the two deaths and this delivery; a dead process's pull request can take one more.
    expect(Number(/delivered (\d+) times/.exec(letter?.error.message ?? '')?.[1])).toBeGreaterThanOrEqual(3);
  }, 30_000);
});

function typed(type: string) {
  const h = headers();
  h.set(HEADER_TYPE, type);
  return h;
}
