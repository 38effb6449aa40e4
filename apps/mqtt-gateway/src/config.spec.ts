import { loadConfig } from '@propeller/config';
import { isInvalid } from '@propeller/events';
import { DEFAULT_SESSION_IN_FLIGHT, DEFAULT_SHARE_GROUP, DEFAULT_STARTED_GRACE_MS, gatewayConfigFrom, readPem } from './config';

const shared = (env: Record<string, string> = {}) => loadConfig({ env, cwd: '/nonexistent', service: 'mqtt-gateway' }).config;

describe('gatewayConfigFrom', () => {
  it('defaults the replica to the host name and the client id to propeller-gateway-<replica>', () => {
    const c = gatewayConfigFrom(shared(), {}, 'gw-pod-0');
    expect(c).toMatchObject({ replica: 'gw-pod-0', clientId: 'propeller-gateway-gw-pod-0', heartbeatClientId: 'propeller-gateway-gw-pod-0-hb', shareGroup: DEFAULT_SHARE_GROUP, domainId: 'propeller' });
  });

  it('takes the replica, client id, domain and gateway knobs from the environment', () => {
    const c = gatewayConfigFrom(shared({ PROPELLER_MQTT_CLIENT_ID: 'fixed', PROPELLER_DOMAIN_ID: 'dom' }), { GATEWAY_REPLICA: 'r2', GATEWAY_QUEUE_CAPACITY: '64', GATEWAY_SESSION_EXPIRY: '1h', GATEWAY_SESSION_IN_FLIGHT: '1' }, 'host');
    expect(c).toMatchObject({ replica: 'r2', clientId: 'fixed', heartbeatClientId: 'fixed-hb', domainId: 'dom', queueCapacity: 64, sessionExpiryMs: 3_600_000, sessionInFlight: 1, protocolVersion: 5 });
    expect(gatewayConfigFrom(shared(), {}, 'host').sessionInFlight).toBe(DEFAULT_SESSION_IN_FLIGHT);
    expect(gatewayConfigFrom(shared(), { GATEWAY_MQTT_VERSION: '3.1.1' }, 'host').protocolVersion).toBe(4);
  });

  it('reads GATEWAY_STARTED_GRACE as a duration, 0 turning it off', () => {
    expect(gatewayConfigFrom(shared(), {}, 'host').startedGraceMs).toBe(DEFAULT_STARTED_GRACE_MS);
    expect(gatewayConfigFrom(shared(), { GATEWAY_STARTED_GRACE: '250ms' }, 'host').startedGraceMs).toBe(250);
    expect(gatewayConfigFrom(shared(), { GATEWAY_STARTED_GRACE: '0' }, 'host').startedGraceMs).toBe(0);
    expect(() => gatewayConfigFrom(shared(), { GATEWAY_STARTED_GRACE: 'soon' }, 'host')).toThrow('GATEWAY_STARTED_GRACE');
  });

  it.each([
    ['GATEWAY_QUEUE_CAPACITY', '0'],
    ['GATEWAY_SESSION_IN_FLIGHT', '-1'],
    ['GATEWAY_SESSION_EXPIRY', '10'],
    ['GATEWAY_REPLICA', 'a/b'],
    ['GATEWAY_MQTT_VERSION', '3'],
    ['GATEWAY_STARTED_GRACE', '-5ms'],
  ])('refuses %s=%s naming the key', (key, value) => {
    let error: unknown;
    try {
      gatewayConfigFrom(shared(), { [key]: value }, 'host');
    } catch (e) {
      error = e;
    }
    expect(isInvalid(error) && error.issues[0]?.field).toBe(key);
  });

  it('reads TLS material from a path, or takes inline PEM as is', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----';
    expect(readPem('mqtt.tls.ca', pem)).toBe(pem);
    expect(readPem('mqtt.tls.ca', '/etc/ca.pem', (p) => `read ${p}`)).toBe('read /etc/ca.pem');
    expect(() => readPem('mqtt.tls.ca', '/missing/ca.pem')).toThrow(/mqtt\.tls\.ca/);
  });
});
