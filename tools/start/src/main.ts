/**
 * `npm start`: the whole control plane on one machine. Checks that NATS (with JetStream), Postgres
 * and MQTT answer, then runs every service and two local proplets as supervised processes and says
 * when the API is ready. Ctrl-C stops everything.
 */
import { resolve } from 'node:path';
import { loadConfig } from '@propeller/config';
import { PORT_BASE_ENV, PROPLET_PREFIX_ENV, hasKubeconfig, localPropletIds, localStack, portBaseFrom, stackPorts } from './plan';
import { preflight } from './preflight';
import { Supervisor, httpReady } from './supervisor';

const ROOT = resolve(__dirname, '../../..');

async function waitReady(url: string, deadline: number, stopped: () => boolean): Promise<boolean> {
  while (Date.now() < deadline && !stopped()) {
    if (await httpReady(url)) return true;
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

async function main(): Promise<void> {
  let config, ports, propletIds;
  try {
    config = loadConfig({ env: process.env, cwd: process.cwd(), service: 'start' }).config;
    ports = stackPorts({ base: portBaseFrom(process.env), apiPort: config.api.port });
    propletIds = localPropletIds(process.env);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  }
  // Only the supervisor reads these; a service would log each as an unknown PROPELLER_* variable.
  delete process.env[PORT_BASE_ENV];
  delete process.env[PROPLET_PREFIX_ENV];
  const checks = await preflight({ nats: config.nats.url, database: config.database.url, mqtt: config.mqtt.broker });
  const failed = checks.filter((c) => !c.ok);
  for (const c of checks) console.log(`propeller | ${c.ok ? 'ok  ' : 'FAIL'} ${c.name} at ${c.address}${c.ok ? '' : `: ${c.error}`}`);
  if (failed.length > 0) {
    for (const c of failed) console.error(`propeller | ${c.name} does not answer at ${c.address}; ${c.hint}`);
    process.exit(1);
  }

  const apiPort = ports.api;
  const specs = localStack({ kubeconfig: hasKubeconfig(process.env), ports, propletIds });
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
  // The children run in their own process groups (see Supervisor), so a closed terminal reaches only us.
  process.on('SIGHUP', () => stop('SIGHUP'));

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
