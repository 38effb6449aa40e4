/**
 * One scheduler replica as a process, for the failover test. Run with tsx:
 *   SCHEDULER_PREFIX=<prefix> SCHEDULER_SCHEMA=<schema> node --import tsx replica.ts
 * Reports on stdout, one JSON line per event (`ready`, `active`, `inactive`). SIGTERM stops it
 * gracefully; SIGKILL leaves its lease to expire.
 */
import { Registry } from 'prom-client';
import { natsNames } from '@propeller/events';
import { connectTest } from '@propeller/eventstore/testing';
import { createDb } from '@propeller/projections';
import { TEST_DATABASE_URL } from '@propeller/projections/testing';
import type { TasksTables } from '@propeller/read-models';
import { startScheduler } from '../service';

const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, at: Date.now(), ...event })}\n`);
};

async function main(): Promise<void> {
  const prefix = process.env['SCHEDULER_PREFIX'];
  const schema = process.env['SCHEDULER_SCHEMA'];
  if (!prefix || !schema) throw new Error('SCHEDULER_PREFIX and SCHEDULER_SCHEMA are required');
  const holder = `replica-${process.pid}`;
  const nc = await connectTest(holder);
  const db = createDb<TasksTables>({ url: TEST_DATABASE_URL, schema, poolMax: 2 });
  const log = (level: string) => (obj: object, msg: string) => process.stderr.write(`${JSON.stringify({ level, pid: process.pid, msg, ...obj, err: (obj as { err?: Error }).err?.message })}\n`);
  const logger = { info: log('info'), warn: log('warn'), error: log('error') };
  const scheduler = await startScheduler({ nc, names: natsNames(prefix), db, registry: new Registry(), holder, standbyPollMs: 200, retryMs: 200, logger });
  emit({ event: 'ready', holder });
  let active = false;
  // Only for the test's log: the loop itself needs no polling.
  setInterval(() => {
    const now = scheduler.loop.isActive();
    if (now !== active) emit({ event: now ? 'active' : 'inactive', stats: scheduler.loop.stats() });
    active = now;
  }, 50).unref();
  process.on('SIGTERM', () => {
    void scheduler
      .stop()
      .then(() => nc.close())
      .then(() => db.destroy())
      .finally(() => process.exit(0));
  });
}

main().catch((e: unknown) => {
  emit({ event: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
