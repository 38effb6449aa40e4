/**
 * `npm start`: the whole control plane on one machine. Checks that NATS (with JetStream), Postgres
 * and MQTT answer, then runs every service and two local proplets as supervised processes and says
 * when the API is ready. Ctrl-C stops everything.
 */
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '@propeller/config';
import { hasKubeconfig, localStack } from './plan';
import { preflight } from './preflight';
import { Supervisor } from './supervisor';

const ROOT = resolve(__dirname, '../../..');

async function waitReady(url: string, deadline: number, stopped: () => boolean): Promise<boolean> {
  while (Date.now() < deadline && !stopped()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ env: process.env, cwd: process.cwd(), service: 'start' }).config;
  } catch (e) {
    console.error(e instanceof ConfigError ? e.message : String(e));
    process.exit(2);
  }
  const checks = await preflight({ nats: config.nats.url, database: config.database.url, mqtt: config.mqtt.broker });
  const failed = checks.filter((c) => !c.ok);
  for (const c of checks) console.log(`propeller | ${c.ok ? 'ok  ' : 'FAIL'} ${c.name} at ${c.address}${c.ok ? '' : `: ${c.error}`}`);
  if (failed.length > 0) {
    for (const c of failed) console.error(`propeller | ${c.name} does not answer at ${c.address}; ${c.hint}`);
    process.exit(1);
  }

  const apiPort = config.api.port;
  const specs = localStack({ kubeconfig: hasKubeconfig(process.env), apiPort });
  const supervisor = new Supervisor(specs, { root: ROOT, out: process.stdout, color: process.stdout.isTTY === true });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    supervisor.say(`${signal}: stopping every process`);
    void supervisor.stop().then(() => {
      supervisor.say('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  supervisor.say(`starting ${specs.map((s) => s.name).join(', ')}`);
  supervisor.start();
  const deadline = Date.now() + 120_000;
  const ready = await Promise.all(specs.map(async (s) => (s.readyUrl ? waitReady(s.readyUrl, deadline, () => stopping) : true)));
  if (stopping) return;
  const late = specs.filter((_, i) => !ready[i]).map((s) => s.name);
  if (late.length > 0) {
    supervisor.say(`not ready after 120s: ${late.join(', ')} (still supervised; see their output above)`);
  } else {
    supervisor.say(`Propeller is ready. API: http://127.0.0.1:${apiPort}  (try: npx propeller run examples/add.wat --inputs 2,3)`);
  }
}

void main();
