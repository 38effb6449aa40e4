import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { isInvalid } from '@propeller/events';
import { PORTS, localPropletIds, localStack, portBaseFrom, restartDelayMs, stackPorts } from './plan';
import { Supervisor, prefixer } from './supervisor';

const ROOT = resolve(__dirname, '../../..');

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  return { out, text: () => text };
}

async function until(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the local stack plan', () => {
  it('runs every service, two proplets (k8s and raspberry-pi) and the k8s-agent only with a kubeconfig', () => {
    const without = localStack({ kubeconfig: false });
    expect(without.map((s) => s.name)).toEqual(['registry', 'scheduler', 'health-monitor', 'mqtt-gateway', 'api', 'proplet-k8s', 'proplet-rpi']);
    expect(without.find((s) => s.name === 'proplet-rpi')?.env).toMatchObject({ PROPLET_TYPE: 'external', PROPLET_DEVICE_TYPE: 'raspberry-pi' });
    expect(without.find((s) => s.name === 'proplet-k8s')?.env).toMatchObject({ PROPLET_TYPE: 'k8s' });
    expect(localStack({ kubeconfig: true }).map((s) => s.name)).toContain('k8s-agent');
  });

  it('starts the proplets after the registry and the gateway, so their create is not lost', () => {
    const after = Object.fromEntries(localStack({ kubeconfig: false }).map((s) => [s.name, s.startAfter]));
    expect(after['proplet-k8s']).toEqual(['registry', 'mqtt-gateway']);
    expect(after['proplet-rpi']).toEqual(['registry', 'mqtt-gateway']);
    expect(after['mqtt-gateway']).toBeUndefined();
  });

  it('puts every process on the ports of ARCHITECTURE.md by default, through the canonical keys', () => {
    const env = Object.fromEntries(localStack({ kubeconfig: true }).map((s) => [s.name, s.env]));
    expect(env).toMatchObject({
      registry: { PROPELLER_METRICS_PORT: '9101' },
      scheduler: { PROPELLER_METRICS_PORT: '9102' },
      'health-monitor': { PROPELLER_METRICS_PORT: '9103' },
      'mqtt-gateway': { PROPELLER_METRICS_PORT: '9104' },
      api: { PROPELLER_API_PORT: '7070' },
      'k8s-agent': { PROPELLER_METRICS_PORT: '8080', PROPELLER_K8S_PROBE_PORT: '8081' },
      'proplet-k8s': { PROPELLER_PROPLET_HTTP_PORT: '9090', PROPLET_ID: 'local-k8s-proplet' },
      'proplet-rpi': { PROPELLER_PROPLET_HTTP_PORT: '9091', PROPLET_ID: 'local-rpi-proplet' },
    });
    expect(stackPorts({ apiPort: 8000 })).toEqual({ ...PORTS, api: 8000 });
  });

  it('moves every port, both proplets and the probes included, onto base … base+8 with PROPELLER_START_PORT_BASE', () => {
    const ports = stackPorts({ base: portBaseFrom({ PROPELLER_START_PORT_BASE: '20000' }), apiPort: 8000 });
    const specs = localStack({ kubeconfig: true, ports });
    const used = specs.flatMap((s) => Object.entries(s.env).filter(([k]) => k.endsWith('PORT')).map(([, v]) => Number(v)));
    expect(used.sort((a, b) => a - b)).toEqual([20000, 20001, 20002, 20003, 20004, 20005, 20006, 20007, 20008]);
    expect(specs.find((s) => s.name === 'api')?.readyUrl).toBe('http://127.0.0.1:20000/health');
    expect(specs.find((s) => s.name === 'proplet-rpi')?.readyUrl).toBe('http://127.0.0.1:20006/health');
    expect(specs.find((s) => s.name === 'k8s-agent')?.readyUrl).toBe('http://127.0.0.1:20008/readyz');
  });

  it('refuses a port base that is not a number or leaves no room for nine ports, naming the key', () => {
    expect(portBaseFrom({})).toBeUndefined();
    expect(portBaseFrom({ PROPELLER_START_PORT_BASE: ' ' })).toBeUndefined();
    for (const bad of ['abc', '80', '65530', '2e4', '-1']) {
      let thrown: unknown;
      try {
        portBaseFrom({ PROPELLER_START_PORT_BASE: bad });
      } catch (e) {
        thrown = e;
      }
      expect(isInvalid(thrown)).toBe(true);
      expect((thrown as Error).message).toContain(`PROPELLER_START_PORT_BASE: expected an integer from 1024 to 65527`);
    }
  });

  it('names the local proplets from PROPELLER_START_PROPLET_PREFIX, so a second stack never takes over their MQTT sessions', () => {
    expect(localPropletIds({})).toEqual({ k8s: 'local-k8s-proplet', rpi: 'local-rpi-proplet' });
    expect(localPropletIds({ PROPELLER_START_PROPLET_PREFIX: 'e2e-1' })).toEqual({ k8s: 'e2e-1-k8s-proplet', rpi: 'e2e-1-rpi-proplet' });
    expect(() => localPropletIds({ PROPELLER_START_PROPLET_PREFIX: 'a/b' })).toThrow(/PROPELLER_START_PROPLET_PREFIX/);
    const ids = localPropletIds({ PROPELLER_START_PROPLET_PREFIX: 'x' });
    expect(localStack({ kubeconfig: false, propletIds: ids }).filter((s) => s.name.startsWith('proplet')).map((s) => s.env['PROPLET_ID'])).toEqual(['x-k8s-proplet', 'x-rpi-proplet']);
  });

  it('backs off 1s, 2s, 4s … up to 30s between restarts', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(restartDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('prefixes each line with the padded process name', () => {
    expect(prefixer('api', 9, 0, false)('listening')).toBe('api       | listening');
  });
});

describe('Supervisor', () => {
  it('shows a crash, restarts the process with backoff, and stops everything cleanly', async () => {
    const { out, text } = capture();
    const sup = new Supervisor(
      [
        { name: 'crashy', entry: 'tools/start/test/crasher.ts', env: { CRASH: '1' } },
        { name: 'steady', entry: 'tools/start/test/crasher.ts', env: { CRASH: '0' } },
      ],
      { root: ROOT, out, color: false, stopTimeoutMs: 5000 },
    );
    sup.start();
    await until(() => (text().match(/crashy +\| crasher up/g) ?? []).length >= 2);
    expect(text()).toMatch(/crashy exited \(code 3\) after [\d.]+s; restarting in 1s/);
    // Each launch names its pid, and a restart is a new process.
    const crashyPids = [...text().matchAll(/crashy started \(pid (\d+)\)/g)].map((m) => m[1]);
    expect(crashyPids.length).toBeGreaterThanOrEqual(2);
    expect(new Set(crashyPids).size).toBe(crashyPids.length);
    const steadyPid = sup.pid('steady');
    expect(steadyPid).toBeDefined();
    await sup.stop();
    expect(text()).toMatch(/steady +\| crasher got SIGTERM/);
    expect(() => process.kill(steadyPid as number, 0)).toThrow();
  });
});

describe('Supervisor start order', () => {
  it('starts a process only once every process it starts after answers on its readyUrl', async () => {
    const { out, text } = capture();
    let depReady = false;
    const probed: string[] = [];
    const sup = new Supervisor(
      [
        { name: 'dep', entry: 'tools/start/test/crasher.ts', env: { CRASH: '0' }, readyUrl: 'http://dep/health' },
        { name: 'late', entry: 'tools/start/test/crasher.ts', env: { CRASH: '0' }, startAfter: ['dep'] },
      ],
      {
        root: ROOT,
        out,
        color: false,
        stopTimeoutMs: 5000,
        probe: async (url) => {
          probed.push(url);
          return depReady;
        },
      },
    );
    sup.start();
    try {
      await until(() => /dep +\| crasher up/.test(text()) && probed.length >= 2);
      expect(text()).not.toMatch(/late started/);
      expect(sup.pid('late')).toBeUndefined();
      depReady = true;
      await until(() => /late +\| crasher up/.test(text()));
      expect(probed.every((u) => u === 'http://dep/health')).toBe(true);
    } finally {
      await sup.stop();
    }
  });
});
