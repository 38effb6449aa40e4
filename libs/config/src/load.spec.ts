import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, isConfigError } from './errors';
import { loadConfig, LoadedConfig } from './load';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'propeller-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const load = (env: Record<string, string> = {}): LoadedConfig => loadConfig({ env, cwd: dir, service: 'test' });
const withYaml = (yaml: string, name = 'config.yaml'): string => {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
};
/** Runs the loader expecting it to fail, and returns the error. */
const failure = (env: Record<string, string> = {}): ConfigError => {
  try {
    load(env);
  } catch (e) {
    if (isConfigError(e)) return e;
    throw e;
  }
  throw new Error('expected loadConfig to fail');
};

describe('loadConfig', () => {
  describe('bad values', () => {
    it('rejects OFFLINE_THRESHOLD=5x naming the variable, the key, the value and the allowed form', () => {
      const err = failure({ OFFLINE_THRESHOLD: '5x' });
      expect(err.code).toBe('Invalid');
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]).toMatchObject({ key: 'healthMonitor.offlineThreshold', origin: 'env', name: 'OFFLINE_THRESHOLD', value: '5x' });
      expect(err.issues[0]?.message).toMatch(/^OFFLINE_THRESHOLD=5x: expected a duration such as 30s, 5m, 1h/);
      expect(err.message).toContain('healthMonitor.offlineThreshold');
    });

    it('rejects SCHEDULER_TYPE=fast listing the allowed policies', () => {
      const err = failure({ SCHEDULER_TYPE: 'fast' });
      expect(err.issues[0]).toMatchObject({ key: 'scheduler.type', name: 'SCHEDULER_TYPE', value: 'fast' });
      expect(err.message).toContain('SCHEDULER_TYPE=fast: expected one of roundrobin, resource-aware, hybrid');
    });

    it('reports every bad value at once', () => {
      const err = failure({ OFFLINE_THRESHOLD: '5x', SCHEDULER_TYPE: 'fast', PORT: '70000', DATABASE_POOL_MAX: 'many' });
      expect(err.issues.map((i) => i.name).sort()).toEqual(['DATABASE_POOL_MAX', 'OFFLINE_THRESHOLD', 'PORT', 'SCHEDULER_TYPE']);
      expect(err.message).toContain('4 problems');
    });

    it('names the file and the key for a bad value in config.yaml', () => {
      const path = withYaml('healthMonitor:\n  offlineThreshold: soon\n');
      const err = failure();
      expect(err.issues[0]).toMatchObject({ key: 'healthMonitor.offlineThreshold', origin: 'file', name: path, value: 'soon' });
      expect(err.message).toContain(`healthMonitor.offlineThreshold=soon in ${path}: expected a duration`);
    });

    it('requires the failure threshold to exceed the offline threshold', () => {
      const err = failure({ OFFLINE_THRESHOLD: '10m', FAILURE_THRESHOLD: '10m' });
      expect(err.issues[0]).toMatchObject({ key: 'healthMonitor.failureThreshold', name: 'FAILURE_THRESHOLD' });
      expect(err.message).toContain('FAILURE_THRESHOLD=10m: expected a duration longer than healthMonitor.offlineThreshold (10m)');
    });

    it('masks credentials of a rejected URL in the error', () => {
      const err = failure({ DATABASE_URL: 'mysql://app:s3cret@db:3306/x' });
      expect(err.issues[0]?.name).toBe('DATABASE_URL');
      expect(err.message).not.toContain('s3cret');
      expect(err.message).toContain('postgres://');
    });
  });

  describe('precedence', () => {
    it('uses the default when neither the environment nor the file sets a key', () => {
      const { config, sources, file } = load();
      expect(file.found).toBe(false);
      expect(config.healthMonitor.offlineThreshold).toBe(5 * 60_000);
      expect(config.scheduler.type).toBe('hybrid');
      expect(config.nats.url).toBe('nats://127.0.0.1:4222');
      expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/postgres');
      expect(config.database.poolMax).toBe(5);
      expect(config.moduleMaxBytes).toBe(16 * 1024 * 1024);
      expect(config.taskRetention).toBe(7 * 86_400_000);
      expect(sources['healthMonitor.offlineThreshold']).toEqual({ from: 'default' });
    });

    it('takes config.yaml over the default', () => {
      const path = withYaml('healthMonitor:\n  offlineThreshold: 2m\nscheduler:\n  computeKeywords: [gpu, train]\n');
      const { config, sources } = load();
      expect(config.healthMonitor.offlineThreshold).toBe(120_000);
      expect(config.scheduler.computeKeywords).toEqual(['gpu', 'train']);
      expect(sources['healthMonitor.offlineThreshold']).toEqual({ from: 'file', file: path });
    });

    it('takes the environment over config.yaml', () => {
      withYaml('healthMonitor:\n  offlineThreshold: 2m\n');
      const { config, sources } = load({ OFFLINE_THRESHOLD: '3m' });
      expect(config.healthMonitor.offlineThreshold).toBe(180_000);
      expect(sources['healthMonitor.offlineThreshold']).toEqual({ from: 'env', name: 'OFFLINE_THRESHOLD' });
    });

    it('reads the file named by PROPELLER_CONFIG, relative to cwd', () => {
      withYaml('scheduler:\n  type: roundrobin\n', 'other.yaml');
      expect(load({ PROPELLER_CONFIG: 'other.yaml' }).config.scheduler.type).toBe('roundrobin');
    });

    it('treats an empty env var as not set', () => {
      withYaml('scheduler:\n  type: roundrobin\n');
      expect(load({ SCHEDULER_TYPE: '' }).config.scheduler.type).toBe('roundrobin');
    });
  });

  describe('env names', () => {
    it('accepts PROPELLER_<UPPER_SNAKE_PATH> for every key', () => {
      const { config, sources } = load({
        PROPELLER_HEALTH_MONITOR_OFFLINE_THRESHOLD: '30s',
        PROPELLER_HEALTH_MONITOR_BREAKER_SHARE: '0.7',
        PROPELLER_MQTT_TLS_CA: '/etc/ca.pem',
        PROPELLER_K8S_NAMESPACE: 'edge',
        PROPELLER_METRICS_PORT: '9999',
      });
      expect(config.healthMonitor.offlineThreshold).toBe(30_000);
      expect(config.healthMonitor.breaker.share).toBe(0.7);
      expect(config.mqtt.tls.ca).toBe('/etc/ca.pem');
      expect(config.k8s.namespace).toBe('edge');
      expect(config.metricsPort).toBe(9999);
      expect(sources['healthMonitor.breaker.share']).toEqual({ from: 'env', name: 'PROPELLER_HEALTH_MONITOR_BREAKER_SHARE' });
    });

    it.each([
      ['NATS_URL', 'nats://nats:4222', 'nats.url', 'nats://nats:4222'],
      ['PROPELLER_NATS_PREFIX', 't123', 'nats.prefix', 't123'],
      ['DATABASE_URL', 'postgres://u@db:5432/x', 'database.url', 'postgres://u@db:5432/x'],
      ['DATABASE_POOL_MAX', '3', 'database.poolMax', 3],
      ['MQTT_BROKER', 'broker:1883', 'mqtt.broker', 'mqtt://broker:1883'],
      ['MQTT_USERNAME', 'gw', 'mqtt.username', 'gw'],
      ['MQTT_PASSWORD', 'pw', 'mqtt.password', 'pw'],
      ['K8S_NAMESPACE', 'propeller', 'k8s.namespace', 'propeller'],
      ['PROPELLER_DOMAIN_ID', 'd1', 'mqtt.domainId', 'd1'],
      ['PROPELLER_CHANNEL_ID', 'c1', 'mqtt.channelId', 'c1'],
      ['SCHEDULER_TYPE', 'resource-aware', 'scheduler.type', 'resource-aware'],
      ['HEALTH_CHECK_INTERVAL', '30s', 'healthMonitor.checkInterval', 30_000],
      ['OFFLINE_THRESHOLD', '2m', 'healthMonitor.offlineThreshold', 120_000],
      ['FAILURE_THRESHOLD', '1h', 'healthMonitor.failureThreshold', 3_600_000],
      ['PORT', '8080', 'api.port', 8080],
      ['METRICS_PORT', '9101', 'metricsPort', 9101],
      ['MODULE_MAX_BYTES', '1Mi', 'moduleMaxBytes', 1_048_576],
      ['TASK_RETENTION', '1d', 'taskRetention', 86_400_000],
    ])('accepts the documented alias %s', (name, raw, key, expected) => {
      const { config, sources } = load({ [name]: raw });
      let value: unknown = config;
      for (const seg of key.split('.')) value = (value as Record<string, unknown>)[seg];
      expect(value).toEqual(expected);
      expect(sources[key as keyof typeof sources]).toEqual({ from: 'env', name });
    });

    it('warns about a PROPELLER_ variable that names no key', () => {
      const { warnings } = load({ PROPELLER_HEALTH_MONITOR_OFLINE_THRESHOLD: '1m', PROPELLER_CONFIG: '', PROPELLER_TEST_LEVEL: 'unit' });
      expect(warnings).toEqual(['PROPELLER_HEALTH_MONITOR_OFLINE_THRESHOLD is not a configuration variable (ignored); see docs/configuration.md']);
    });

    it('lets the PROPELLER_ name win over its alias and warns about the shadowed one', () => {
      const { config, sources, warnings } = load({ PROPELLER_HEALTH_MONITOR_OFFLINE_THRESHOLD: '1m', OFFLINE_THRESHOLD: '2m' });
      expect(config.healthMonitor.offlineThreshold).toBe(60_000);
      expect(sources['healthMonitor.offlineThreshold']).toEqual({ from: 'env', name: 'PROPELLER_HEALTH_MONITOR_OFFLINE_THRESHOLD' });
      expect(warnings.join('\n')).toContain('OFFLINE_THRESHOLD is ignored');
    });
  });

  describe('value forms', () => {
    it.each([
      ['250ms', 250],
      ['30s', 30_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['7d', 604_800_000],
      ['1h30m', 5_400_000],
      ['1.5h', 5_400_000],
    ])('parses the duration %s', (raw, ms) => {
      expect(load({ TASK_RETENTION: raw }).config.taskRetention).toBe(ms);
    });

    it.each(['5x', 'x5m', '1h 5x', '5', '-5m', '5 m', 'PT5M', '0s'])('rejects the duration %j', (raw) => {
      expect(failure({ TASK_RETENTION: raw }).issues[0]?.name).toBe('TASK_RETENTION');
    });

    it.each([
      ['16Mi', 16_777_216],
      ['512Ki', 524_288],
      ['1G', 1_000_000_000],
      ['1024', 1024],
    ])('parses the size %s', (raw, bytes) => {
      expect(load({ MODULE_MAX_BYTES: raw }).config.moduleMaxBytes).toBe(bytes);
    });

    it.each(['16XB', '-1', '1.5Mi', 'lots', '0'])('rejects the size %j', (raw) => {
      expect(failure({ MODULE_MAX_BYTES: raw }).message).toContain('expected a size such as 16Mi');
    });

    it('takes a plain YAML number as bytes', () => {
      withYaml('moduleMaxBytes: 2048\n');
      expect(load().config.moduleMaxBytes).toBe(2048);
    });

    it.each([
      ['broker.local:1883', 'mqtt://broker.local:1883'],
      ['mqtt://broker:1883', 'mqtt://broker:1883'],
      ['mqtts://broker:8883', 'mqtts://broker:8883'],
      ['ws://broker:8083/mqtt', 'ws://broker:8083/mqtt'],
      ['wss://broker:8084/mqtt', 'wss://broker:8084/mqtt'],
    ])('accepts the broker form %s', (raw, expected) => {
      expect(load({ MQTT_BROKER: raw }).config.mqtt.broker).toBe(expected);
    });

    it.each(['http://broker:1883', 'broker', 'mqtt://', 'tcp//broker:1883'])('rejects the broker %j', (raw) => {
      expect(failure({ MQTT_BROKER: raw }).message).toContain('expected a URL (host:port, mqtt://, mqtts://, ws://, wss://)');
    });

    it('accepts a comma-separated NATS cluster', () => {
      expect(load({ NATS_URL: 'nats://a:4222,nats://b:4222' }).config.nats.url).toBe('nats://a:4222,nats://b:4222');
    });

    it('reads booleans and lists from the environment', () => {
      const { config } = load({ PROPELLER_HEALTH_MONITOR_AUTO_EVACUATE_TASKS: 'false', PROPELLER_SCHEDULER_EDGE_KEYWORDS: 'esp32, sensor,,' });
      expect(config.healthMonitor.autoEvacuateTasks).toBe(false);
      expect(config.scheduler.edgeKeywords).toEqual(['esp32', 'sensor']);
    });

    it('rejects a NATS prefix that cannot name streams', () => {
      expect(failure({ PROPELLER_NATS_PREFIX: 'a.b' }).message).toContain('PROPELLER_NATS_PREFIX=a.b: expected 1-64 characters');
    });
  });

  describe('the file', () => {
    it('rejects invalid YAML naming the file and the line', () => {
      const path = withYaml('nats:\n  url: [unclosed\n');
      const err = failure();
      expect(err.message).toContain(path);
      expect(err.message).toMatch(/invalid YAML at line \d+/);
    });

    it('rejects a file named by PROPELLER_CONFIG that does not exist', () => {
      expect(failure({ PROPELLER_CONFIG: 'missing.yaml' }).message).toContain(`PROPELLER_CONFIG=${join(dir, 'missing.yaml')}: file not found`);
    });

    it('rejects an unreadable file', () => {
      const err = failure({ PROPELLER_CONFIG: dir });
      expect(err.message).toContain(`${dir}: cannot read the file (EISDIR)`);
    });

    it('rejects a section that is not a mapping', () => {
      withYaml('healthMonitor: 5m\n');
      expect(failure().message).toContain('healthMonitor in');
    });

    it('warns about unknown keys instead of failing', () => {
      withYaml('healthMonitor:\n  ofllineThreshold: 2m\n');
      const { warnings, config } = load();
      expect(warnings).toEqual([expect.stringContaining('unknown key healthMonitor.ofllineThreshold')]);
      expect(config.healthMonitor.offlineThreshold).toBe(300_000);
    });

    it('treats an empty file as no settings', () => {
      withYaml('');
      expect(load().file.found).toBe(true);
    });
  });

  it('returns a frozen config', () => {
    const { config } = load();
    expect(Object.isFrozen(config.healthMonitor.breaker)).toBe(true);
  });

  it('defaults the trace service name to the service and takes service-specific defaults', () => {
    const loaded = loadConfig({ env: {}, cwd: dir, service: 'registry', defaults: { metricsPort: 9101 } });
    expect(loaded.config.otel.serviceName).toBe('registry');
    expect(loaded.config.metricsPort).toBe(9101);
    expect(loaded.sources.metricsPort).toEqual({ from: 'default' });
    expect(loadConfig({ env: { METRICS_PORT: '1' }, cwd: dir, service: 'x', defaults: { metricsPort: 9101 } }).config.metricsPort).toBe(1);
  });
});
