import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { RequestError, TimeoutError } from '@nats-io/nats-core/internal';
import { connectNats } from './nats';

// The module whose `RequestError` export nats.js's request code constructs (it reads the export at each
// use); the package's export map does not list it, so it is loaded by its file.
const errorsModule = (): { RequestError: typeof RequestError } =>
  require(join(dirname(require.resolve('@nats-io/nats-core/internal')), 'errors.js')) as { RequestError: typeof RequestError };

const URL = process.env['PROPELLER_NATS_URL'] ?? 'nats://127.0.0.1:4222';

describe('connectNats (real NATS)', () => {
  it('delivers every message of a burst in order, and a request sent in the same turn gets its reply', async () => {
    const a = await connectNats(URL, 'propeller-test-a');
    const b = await connectNats(URL, 'propeller-test-b');
    try {
      const subject = `test.coalesce.${randomUUID()}`;
      const got: number[] = [];
      const done = new Promise<void>((resolve) => {
        b.subscribe(subject, {
          callback: (_e, m) => {
            got.push(Number(new TextDecoder().decode(m.data)));
            if (got.length === 5000) resolve();
          },
        });
      });
      b.subscribe(`${subject}.echo`, {
        callback: (_e, m) => {
          m.respond(m.data);
        },
      });
      await b.flush();
      // One turn of the event loop: every publish is joined into one write.
      for (let i = 0; i < 5000; i++) a.publish(subject, String(i));
      const reply = await a.request(`${subject}.echo`, 'ping', { timeout: 5_000 });
      await done;
      expect(got).toEqual(Array.from({ length: 5000 }, (_, i) => i));
      expect(new TextDecoder().decode(reply.data)).toBe('ping');
    } finally {
      await a.drain();
      await b.drain();
    }
  });

  it('writes what nats.js handed to the transport before close()', async () => {
    const a = await connectNats(URL, 'propeller-test-close-a');
    const b = await connectNats(URL, 'propeller-test-close-b');
    try {
      const subject = `test.coalesce.close.${randomUUID()}`;
      const got: string[] = [];
      const sub = b.subscribe(subject, {
        callback: (_e, m) => {
          got.push(new TextDecoder().decode(m.data));
        },
      });
      await b.flush();
      await a.flush();
      // nats.js hands its buffer to the transport at the next microtask checkpoint (a publish made in the
      // same tick as close() is dropped by nats.js itself, with or without this transport: use drain()).
      a.publish(subject, 'last words');
      await Promise.resolve();
      await a.close();
      await b.flush();
      for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      sub.unsubscribe();
      expect(got).toEqual(['last words']);
    } finally {
      if (!a.isClosed()) await a.close();
      await b.drain();
    }
  });

  it('answers requests without building a RequestError per success, and still reports timeouts and missing responders', async () => {
    const a = await connectNats(URL, 'propeller-test-req-a');
    const b = await connectNats(URL, 'propeller-test-req-b');
    const errors = errorsModule();
    const Original = errors.RequestError;
    expect(Original).toBe(RequestError);
    let built = 0;
    // Counts every RequestError nats.js constructs while the requests run.
    errors.RequestError = class extends Original {
      constructor(...args: ConstructorParameters<typeof Original>) {
        super(...args);
        built++;
      }
    };
    try {
      const subject = `test.requests.${randomUUID()}`;
      b.subscribe(subject, {
        callback: (_e, m) => {
          m.respond(m.data);
        },
      });
      await b.flush();
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => a.request(subject, String(i), { timeout: 5_000 })));
      expect(replies.map((r) => new TextDecoder().decode(r.data))).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
      expect(built).toBe(0);

      const noOne = await a.request(`${subject}.nobody`, 'x', { timeout: 2_000 }).catch((e: unknown) => e);
      expect(noOne).toBeInstanceOf(Original);
      expect((noOne as RequestError).isNoResponders()).toBe(true);

      b.subscribe(`${subject}.silent`, { callback: () => undefined });
      await b.flush();
      const silent = await a.request(`${subject}.silent`, 'x', { timeout: 100 }).catch((e: unknown) => e);
      expect(silent).toBeInstanceOf(TimeoutError);
    } finally {
      errors.RequestError = Original;
      await a.drain();
      await b.drain();
    }
  });
});
