import { envNameOf, loadConfig } from '@propeller/config';
import { provisionOptionsFrom } from './provision';

describe('provisionOptionsFrom', () => {
  it('takes every provisioning option from the nats.* configuration, durations in ms and sizes in bytes', () => {
    const { config } = loadConfig({
      env: { [envNameOf('nats.leaseTtl')]: '3s', [envNameOf('nats.replicas')]: '3', [envNameOf('nats.streamMaxBytes')]: '2Gi' },
      cwd: '/nonexistent',
      service: 'test',
    });
    expect(provisionOptionsFrom(config.nats)).toMatchObject({ leaseTtlMs: 3000, replicas: 3, maxBytes: 2 * 1024 ** 3 });
    expect(provisionOptionsFrom(config.nats).duplicateWindowMs).toBe(config.nats.duplicateWindow);
  });
});
