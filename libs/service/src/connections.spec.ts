import type { NatsConnection } from '@nats-io/transport-node';
import { startOwning } from './connections';

// Recording stand-ins for the connection and the pool: only the calls startOwning makes.
function owned(calls: string[]) {
  const nc = {
    flush: async () => void calls.push('nc.flush'),
    drain: async () => void calls.push('nc.drain'),
    close: async () => void calls.push('nc.close'),
  } as unknown as NatsConnection;
  const db = { destroy: async () => void calls.push('db.destroy') };
  return { nc, db };
}

describe('startOwning', () => {
  it('stops the work first, then drains NATS and closes the pool', async () => {
    const calls: string[] = [];
    const running = await startOwning(owned(calls), async () => ({ stop: async () => void calls.push('work.stop') }));
    // Started, then flushed: the server has the start's subscriptions before the service reports ready.
    expect(calls).toEqual(['nc.flush']);
    await running.stop();
    expect(calls).toEqual(['nc.flush', 'work.stop', 'nc.drain', 'db.destroy']);
  });

  it('closes both and rethrows when the start fails', async () => {
    const calls: string[] = [];
    await expect(startOwning(owned(calls), async () => Promise.reject(new Error('no stream')))).rejects.toThrow('no stream');
    expect(calls).toEqual(['nc.close', 'db.destroy']);
  });

  it('stops the started work, closes both and rethrows when the flush fails', async () => {
    const calls: string[] = [];
    const conns = owned(calls);
    (conns.nc as unknown as { flush: () => Promise<void> }).flush = () => Promise.reject(new Error('connection closed'));
    await expect(startOwning(conns, async () => ({ stop: async () => void calls.push('work.stop') }))).rejects.toThrow('connection closed');
    expect(calls).toEqual(['work.stop', 'nc.close', 'db.destroy']);
  });
});
