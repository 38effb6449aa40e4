import type { NatsConnection } from '@nats-io/transport-node';
import type { RunningService } from './run';

/** The connections a service process owns: its NATS connection and, for those with read models, a pool. */
export interface OwnedConnections {
  nc: NatsConnection;
  db?: { destroy(): Promise<void> };
}

/**
 * Starts a service's work on connections it owns, and makes their lifecycle the same in every main: the
 * returned `stop` stops the work first, then drains NATS and closes the pool; a failed start closes both
 * (best effort) and rethrows the start's error. It resolves once the NATS server has the start's
 * subscriptions (a flush), so a service that reports ready answers its commands.
 */
export async function startOwning(owned: OwnedConnections, start: () => Promise<RunningService>): Promise<RunningService> {
  let started: RunningService | undefined;
  try {
    started = await start();
    // A round trip to the server: every subscription the start made is live before the service reports
    // ready (the transport writes a turn's frames later, and the server applies each connection's in order).
    await owned.nc.flush();
  } catch (e) {
    await started?.stop().catch(() => undefined);
    await owned.nc.close().catch(() => undefined);
    await owned.db?.destroy().catch(() => undefined);
    throw e;
  }
  const running = started;
  return {
    async stop() {
      await running.stop();
      await owned.nc.drain();
      await owned.db?.destroy();
    },
  };
}
