/**
 * A process-manager runner whose handler kills its own process (SIGKILL) on the first event, as a
 * handler that runs out of memory would. Used by the consumer test, run with tsx:
 *   CONSUMER_PREFIX=<prefix> CONSUMER_NAME=<name> CONSUMER_FILTER=<subject> node --import tsx crashing-consumer.ts
 * It prints `{"event":"handling","seq":N}` just before dying.
 */
import { natsNames } from '@propeller/events';
import { runConsumer } from '../consumer';
import { connectTest } from './index';

async function main(): Promise<void> {
  const prefix = process.env['CONSUMER_PREFIX'];
  const name = process.env['CONSUMER_NAME'];
  const filterSubject = process.env['CONSUMER_FILTER'];
  if (!prefix || !name || !filterSubject) throw new Error('CONSUMER_PREFIX, CONSUMER_NAME and CONSUMER_FILTER are required');
  const nc = await connectTest(`crashing-consumer-${process.pid}`);
  await runConsumer({
    nc,
    names: natsNames(prefix),
    name,
    filterSubject,
    ackWaitMs: Number(process.env['CONSUMER_ACK_WAIT_MS'] ?? 1_000),
    handler: (event) => {
      process.stdout.write(`${JSON.stringify({ event: 'handling', seq: event.seq })}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
