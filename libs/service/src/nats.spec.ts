import { natsConnectOptions } from './nats';

describe('natsConnectOptions', () => {
  it('splits a comma-separated server list, trimming blanks', () => {
    expect(natsConnectOptions('nats://a:4222, nats://b:4222,', 'propeller-x').servers).toEqual(['nats://a:4222', 'nats://b:4222']);
  });

  it('names the connection, reconnects forever and turns async traces off', () => {
    const o = natsConnectOptions('nats://127.0.0.1:4222', 'propeller-scheduler');
    expect(o).toMatchObject({ name: 'propeller-scheduler', maxReconnectAttempts: -1, noAsyncTraces: true });
  });
});
