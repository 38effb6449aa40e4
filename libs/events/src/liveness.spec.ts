import { decodeKvToken, encodeKvToken } from './names';
import { GatewayLivenessSchema, PropletLivenessSchema, gatewayLivenessKey, livenessKey } from './liveness';

describe('liveness contract', () => {
  it('keys proplets and gateways apart and encodes ids into one KV token', () => {
    expect(livenessKey('esp32-7')).toBe('proplet.esp32-7');
    expect(livenessKey('rpi.kitchen')).toBe('proplet.rpi=2Ekitchen');
    expect(gatewayLivenessKey('gw-0')).toBe('gateway.gw-0');
    expect(() => livenessKey('')).toThrow(/propletId/);
  });

  it('accepts a heartbeat with load and refuses an unknown status, naming the field', () => {
    expect(
      PropletLivenessSchema.parse({
        status: 'alive',
        at: '2026-11-27T13:00:00.000Z',
        source: 'heartbeat',
        load: { runningTasks: 2, cpuPercent: 12.5, memoryBytes: 1024 },
        writer: 'gw-0',
      }).load?.runningTasks,
    ).toBe(2);
    const bad = PropletLivenessSchema.safeParse({ status: 'sleepy', at: '2026-11-27T13:00:00.000Z', source: 'heartbeat', writer: 'gw-0' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['status']);
  });

  it('describes a gateway connection', () => {
    expect(GatewayLivenessSchema.parse({ connected: false, at: '2026-11-27T13:00:00.000Z', broker: 'mqtt://127.0.0.1:1883' }).connected).toBe(false);
  });
});

describe('KV key tokens', () => {
  it.each(['esp32-7', 'a.b', 'x/y=z', 'room 12 ✓', '%41', '3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c'])('round-trips %j through a valid KV key', (id) => {
    const token = encodeKvToken(id);
    expect(token).toMatch(/^[-_=A-Za-z0-9]+$/);
    expect(decodeKvToken(token)).toBe(id);
  });
});
