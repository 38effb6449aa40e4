import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configEntries, describeConfig } from './describe';
import { renderConfigurationDoc } from './docs';
import { maskUrl } from './kinds';
import { loadConfig } from './load';
import { envNameOf, knobEntries } from './schema';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'propeller-describe-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const described = (env: Record<string, string>): string => {
  const { config, sources } = loadConfig({ env, cwd: dir, service: 'test' });
  return describeConfig(config, sources);
};

describe('describeConfig', () => {
  it('shows each value with where it came from', () => {
    const text = described({ OFFLINE_THRESHOLD: '2m' });
    expect(text).toMatch(/healthMonitor\.offlineThreshold\s+2m\s+\(env OFFLINE_THRESHOLD\)/);
    expect(text).toMatch(/healthMonitor\.failureThreshold\s+15m\s+\(default\)/);
    expect(text).toMatch(/moduleMaxBytes\s+16Mi\s+\(default\)/);
    expect(text.split('\n')).toHaveLength(knobEntries().length);
  });

  it('masks passwords, private keys and credentials inside URLs', () => {
    const text = described({
      MQTT_PASSWORD: 'hunter2',
      PROPELLER_MQTT_TLS_KEY: '-----BEGIN PRIVATE KEY-----abc',
      DATABASE_URL: 'postgres://app:s3cret@db:5432/x?sslpassword=pw2',
      NATS_URL: 'nats://user:natspw@nats:4222',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/v1/traces?api_key=k3y',
    });
    for (const secret of ['hunter2', 'BEGIN PRIVATE', 's3cret', 'pw2', 'natspw', 'k3y']) expect(text).not.toContain(secret);
    expect(text).toMatch(/mqtt\.password\s+\*\*\*\*\s+\(env MQTT_PASSWORD\)/);
    expect(text).toContain('postgres://app:****@db:5432/x?sslpassword=****');
    expect(text).toContain('nats://user:****@nats:4222');
  });

  it('gives structured entries for JSON logs', () => {
    const { config, sources } = loadConfig({ env: { SCHEDULER_TYPE: 'roundrobin' }, cwd: dir, service: 'test' });
    expect(configEntries(config, sources)).toContainEqual({ key: 'scheduler.type', value: 'roundrobin', from: 'env', via: 'SCHEDULER_TYPE' });
  });
});

describe('the schema', () => {
  it('derives PROPELLER_<UPPER_SNAKE_PATH> names', () => {
    expect(envNameOf('healthMonitor.offlineThreshold')).toBe('PROPELLER_HEALTH_MONITOR_OFFLINE_THRESHOLD');
    expect(envNameOf('mqtt.tls.ca')).toBe('PROPELLER_MQTT_TLS_CA');
    expect(envNameOf('k8s.namespace')).toBe('PROPELLER_K8S_NAMESPACE');
  });

  it('never gives two keys the same env name', () => {
    const names = knobEntries().flatMap((e) => e.envNames);
    expect(new Set(names).size).toBe(names.length);
  });

  it('marks every key that names a secret as secret', () => {
    const secretish = knobEntries().filter((e) => /(password|token|secret|\.key)$/i.test(e.key));
    expect(secretish.map((e) => e.key)).toEqual(['mqtt.password', 'mqtt.tls.key']);
    for (const e of secretish) expect(e.knob.secret).toBe(true);
  });

  it('documents every key', () => {
    for (const e of knobEntries()) expect(e.knob.doc.length).toBeGreaterThan(10);
  });
});

describe('maskUrl', () => {
  it('leaves a URL without credentials alone', () => {
    expect(maskUrl('mqtt://broker:1883')).toBe('mqtt://broker:1883');
  });
});

describe('docs/configuration.md', () => {
  it('is in sync with the schema (regenerate: npx tsx libs/config/src/generate-docs.ts)', () => {
    const onDisk = readFileSync(resolve(__dirname, '../../../docs/configuration.md'), 'utf8');
    expect(onDisk).toBe(renderConfigurationDoc());
  });
});
