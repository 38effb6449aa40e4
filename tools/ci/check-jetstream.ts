// Fails loudly when the NATS server answers but JetStream is not enabled.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const url = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
async function main(): Promise<void> {
  const nc = await connect({ servers: url, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const info = await jsm.getAccountInfo();
    console.log(`ci: JetStream enabled on ${url} (streams: ${info.streams}, storage used: ${info.storage} bytes)`);
  } finally {
    await nc.close();
  }
}
main().catch((e: unknown) => {
  console.error(`ci: JetStream is not available on ${url}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
