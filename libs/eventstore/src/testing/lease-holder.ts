/**
 * A process that competes for one lease and reports on stdout, one JSON line per event
 * (`ready`, `acquired`, `lost`, `released`). Used by the lease race test, run with tsx:
 *   LEASE_PREFIX=<prefix> LEASE_KEY=<key> node --import tsx lease-holder.ts
 * SIGTERM releases the lease and exits; SIGKILL leaves it to expire.
 */
import { natsNames } from '@propeller/events';
import { Lease } from '../lease';
import { connectTest } from './index';

const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, at: Date.now(), ...event })}\n`);
};

async function main(): Promise<void> {
  const prefix = process.env['LEASE_PREFIX'];
  const key = process.env['LEASE_KEY'];
  if (!prefix || !key) throw new Error('LEASE_PREFIX and LEASE_KEY are required');
  const nc = await connectTest(`lease-holder-${process.pid}`);
  const lease = await Lease.open(nc, natsNames(prefix), key, {
    holder: `holder-${process.pid}`,
    onAcquired: (token) => emit({ event: 'acquired', token }),
    onLost: (reason) => emit({ event: 'lost', reason }),
  });
  lease.start();
  emit({ event: 'ready', holder: lease.holder });
  process.on('SIGTERM', () => {
    void lease
      .release()
      .then(() => nc.close())
      .finally(() => process.exit(0));
  });
}

main().catch((e: unknown) => {
  emit({ event: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
