import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { localStack, restartDelayMs } from './plan';
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
    const steadyPid = sup.pid('steady');
    expect(steadyPid).toBeDefined();
    await sup.stop();
    expect(text()).toMatch(/steady +\| crasher got SIGTERM/);
    expect(() => process.kill(steadyPid as number, 0)).toThrow();
  });
});
