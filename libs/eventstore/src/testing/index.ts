import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsNames, type Envelope, type NatsNames } from '@propeller/events';
import { isStreamNotFound, kvStreamName, objStreamName } from '../provision';

/** Test helpers for code that runs on the real NATS server; never imported by production code. */

/** NATS names under a fresh prefix (`t` + 10 hex digits), so parallel test runs never meet. */
export function testNames(): NatsNames {
  return natsNames(`t${randomBytes(5).toString('hex')}`);
}

/** Connects to the test NATS server (`NATS_URL`, default `nats://127.0.0.1:4222`). */
export function connectTest(name = 'propeller-test'): Promise<NatsConnection> {
  return connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', name });
}

/** Deletes the streams, KV buckets and object store of one prefix; missing ones are fine. */
export async function cleanup(nc: NatsConnection, names: NatsNames): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const streams = [
    names.stream,
    names.dlqStream,
    names.metricsStream,
    ...Object.values(names.kv).map(kvStreamName),
    objStreamName(names.modules),
  ];
  for (const stream of streams) {
    try {
      await jsm.streams.delete(stream);
    } catch (e) {
      if (!isStreamNotFound(e)) throw e;
    }
  }
}

/** A valid envelope for tests; every field can be overridden. */
export function testEnvelope(aggregate: string, aggregateId: string, overrides: Partial<Envelope> = {}): Envelope {
  return {
    id: randomUUID(),
    type: 'TestHappened',
    schemaVersion: 1,
    aggregate,
    aggregateId,
    occurredAt: new Date().toISOString(),
    correlationId: randomUUID(),
    causationId: null,
    traceparent: null,
    data: {},
    ...overrides,
  };
}

/** Polls `condition` every 20 ms until it holds; throws with `what` after `timeoutMs` (default 10 s). */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
