import { randomUUID } from 'node:crypto';
import { connectNats } from './nats';

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
});
