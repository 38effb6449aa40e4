import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { livenessKey } from '@propeller/events';
import { getCheckpoint } from '@propeller/projections';
import { connectAsync, type MqttClient } from 'mqtt';
import { cleanup, connectTest, testNames, waitFor } from '@propeller/eventstore/testing';
import { TEST_DATABASE_URL, testDb } from '@propeller/projections/testing';
import { bundleService, byMsg, spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';

// A device author's view of Propeller: the real Mosquitto, NATS and Postgres, and the registry, the
// mqtt-gateway, the health monitor and the API each as its own process (bundled from their main.ts).
// The device below is a plain MQTT client that knows only PROTOCOL.md — no project code on the device side.

const BROKER = process.env['MQTT_BROKER'] ?? 'mqtt://127.0.0.1:1883';

describe('a device written by a device author', () => {
  const names = testNames();
  const domain = `d${randomBytes(4).toString('hex')}`;
  const t = testDb({ poolMax: 1 });
  let dir: string;
  let nc: NatsConnection;
  const services: SpawnedService[] = [];
  let api = '';
  let apiProcess: SpawnedService | undefined;
  let device: MqttClient | undefined;
  let beat: NodeJS.Timeout | undefined;

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PROPELLER_NATS_PREFIX: names.prefix,
    PROPELLER_NATS_LEASE_TTL: '2s',
    DATABASE_URL: TEST_DATABASE_URL,
    PROPELLER_DATABASE_SCHEMA: t.schema,
    DATABASE_POOL_MAX: '2',
    MQTT_BROKER: BROKER,
    PROPELLER_DOMAIN_ID: domain,
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'propeller-api-e2e-'));
    nc = await connectTest('api-e2e');
    const apps = resolve(__dirname, '..', '..');
    const registry = spawnNode(bundleService(join(apps, 'registry/src/main.ts'), join(dir, 'registry.cjs')), { cwd: dir, env: env() });
    services.push(registry);
    // The registry provisions the prefix and migrates the schema first; the others then find them.
    await waitUntilServing(registry, 25_000);
    const gateway = spawnNode(bundleService(join(apps, 'mqtt-gateway/src/main.ts'), join(dir, 'gateway.cjs')), {
      cwd: dir,
      env: env({ GATEWAY_REPLICA: `e2e-${domain}`, GATEWAY_SHARE_GROUP: `g-${domain}`, GATEWAY_SESSION_EXPIRY: '1m' }),
    });
    services.push(gateway);
    // The health monitor turns the device's heartbeats and last-will into health (the API shows it).
    const monitor = spawnNode(bundleService(join(apps, 'health-monitor/src/main.ts'), join(dir, 'health-monitor.cjs')), { cwd: dir, env: env() });
    services.push(monitor);
    const apiProc = spawnNode(bundleService(resolve(__dirname, 'main.ts'), join(dir, 'api.cjs')), { cwd: dir, env: env({ PORT: '0' }) });
    services.push(apiProc);
    apiProcess = apiProc;
    await waitUntilServing(gateway, 25_000);
    await waitUntilServing(monitor, 25_000);
    const serving = await apiProc.waitForLog(byMsg('serving the REST API'), 25_000);
    api = `http://127.0.0.1:${String(serving['port'])}`;
  }, 60_000);

  afterAll(async () => {
    clearInterval(beat);
    await device?.endAsync().catch(() => undefined);
    await Promise.all(services.map((s) => s.stop('SIGTERM', 5_000).catch(() => undefined)));
    // The gateway's inbox stream is not among the prefix's standard resources.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.inboxStream).catch(() => undefined);
    await cleanup(nc, names);
    await nc.close();
    await t.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The proplet's events as stored, for failure messages: what the registry decided and in which order. */
  async function eventsOf(id: string): Promise<string> {
    const jsm = await jetstreamManager(nc);
    const out: string[] = [];
    for (let seq = 1; ; seq++) {
      const m = await jsm.streams.getMessage(names.stream, { seq }).catch(() => null);
      if (!m) break;
      const e = JSON.parse(new TextDecoder().decode(m.data)) as { type: string; aggregateId: string; data: unknown };
      if (e.aggregateId === id) out.push(`${seq} ${e.type} ${JSON.stringify(e.data)}`);
    }
    return out.join('\n');
  }

  it('registers with device_type and capabilities, beats, reports metrics, goes offline by last-will, all read back through the API', async () => {
    // --- the device author's code: topics and payloads straight from PROTOCOL.md ---
    const id = `esp32-${randomBytes(3).toString('hex')}`;
    const base = `m/${domain}/c/greenhouse-1`;
    const lastWill = { topic: `${base}/control/proplet/alive`, payload: Buffer.from(JSON.stringify({ proplet_id: id, status: 'offline' })), qos: 1 as const, retain: false };
    device = await connectAsync(BROKER, { clientId: id, clean: true, will: lastWill });
    await device.publishAsync(`${base}/control/proplet/create`, JSON.stringify({ proplet_id: id, device_type: 'esp32-s3', capabilities: ['wasm', 'sensor', 'wifi'] }), { qos: 1 });
    // Heartbeats every interval, the first one interval after create (as upstream proplets beat every 10 s; here 1 s).
    // A heartbeat sent in the same instant as create can race it in the gateway and, through the registry,
    // overwrite the device type with the heartbeat's defaults: see the report on the registry's decider.
    beat = setInterval(() => device?.publish(`${base}/control/proplet/alive`, JSON.stringify({ proplet_id: id, status: 'alive' }), { qos: 0 }), 1_000);
    await device.publishAsync(
      `${base}/control/proplet/metrics`,
      JSON.stringify({ proplet_id: id, timestamp: 12_345, cpu_metrics: { percent: 7.5 }, memory_metrics: { rss_bytes: 65_536 } }),
      { qos: 0 },
    );

    // --- the operator's side: the REST API ---
    let proplet: Record<string, unknown> = {};
    await waitFor(
      async () => {
        const res = await fetch(`${api}/proplets/${id}`);
        if (res.status === 200) proplet = (await res.json()) as Record<string, unknown>;
        return res.status === 200;
      },
      `GET /proplets/${id} to answer 200`,
      15_000,
    );
    // The registration must hold across heartbeats: wait for one the gateway handled after the proplet was
    // visible, then for the projection to have applied everything the stream holds, and read again.
    const liveness = await new Kvm(nc).open(names.kv.liveness);
    const visibleAt = Date.now();
    await waitFor(
      async () => {
        const e = await liveness.get(livenessKey(id));
        return e !== null && e.length > 0 && Date.parse(e.json<{ at: string }>().at) > visibleAt;
      },
      'a heartbeat handled after the registration was visible',
      10_000,
    );
    const last = (await (await jetstreamManager(nc)).streams.info(names.stream)).state.last_seq;
    await waitFor(async () => ((await getCheckpoint(t.db, 'proplets'))?.seq ?? 0) >= last, 'the proplets projection to apply the whole stream', 10_000);
    const expected = {
      id,
      type: 'external',
      device_type: 'esp32-s3',
      capabilities: ['wasm', 'sensor', 'wifi'],
      // Derived by the gateway: an esp32* device speaks the WAMR dialect.
      dialect: 'wamr',
      channel: { domain_id: domain, channel_id: 'greenhouse-1', layout: 'direct' },
      cordoned: false,
    };
    try {
      expect(proplet).toMatchObject(expected);
      expect((await (await fetch(`${api}/proplets/${id}`)).json()) as object).toMatchObject(expected);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nevents of ${id}:\n${await eventsOf(id)}`);
    }
    // Its heartbeats make it healthy: upstream's alive flag follows.
    await waitFor(async () => ((await (await fetch(`${api}/proplets/${id}`)).json()) as { health: string }).health === 'healthy', `${id} to be healthy`, 15_000);
    expect((await (await fetch(`${api}/proplets/${id}`)).json()) as object).toMatchObject({ health: 'healthy', alive: true, active: true });

    const list = (await (await fetch(`${api}/proplets?device_type=esp32-s3&capability=sensor`)).json()) as { total: number; proplets: Array<{ id: string }> };
    expect(list.proplets.map((p) => p.id)).toEqual([id]);

    let metrics: unknown;
    await waitFor(
      async () => {
        const res = await fetch(`${api}/proplets/${id}/metrics`);
        if (res.status === 200) metrics = await res.json();
        return res.status === 200;
      },
      'the device metrics through the API',
      10_000,
    );
    expect(metrics).toMatchObject({ proplet_id: id, cpu_metrics: { percent: 7.5 }, memory_metrics: { rss_bytes: 65_536 } });

    // A heartbeat alone, from a device that never sent create, registers it too (PROTOCOL.md "alive").
    const quiet = `rpi-${randomBytes(3).toString('hex')}`;
    await device.publishAsync(`${base}/control/proplet/alive`, JSON.stringify({ proplet_id: quiet, status: 'alive' }), { qos: 1 });
    await waitFor(async () => (await fetch(`${api}/proplets/${quiet}`)).status === 200, `a heartbeat to register ${quiet}`, 15_000);
    expect((await (await fetch(`${api}/proplets/${quiet}`)).json()) as object).toMatchObject({ id: quiet, type: 'external', device_type: 'linux', capabilities: ['wasm'] });

    // The device loses its connection without saying goodbye: the broker publishes its last-will.
    clearInterval(beat);
    device.stream.destroy();
    await device.endAsync(true);
    device = undefined;
    await waitFor(async () => ((await (await fetch(`${api}/proplets/${id}`)).json()) as { health: string }).health === 'offline', `${id} to be offline after its last-will`, 15_000);
    expect((await (await fetch(`${api}/proplets/${id}`)).json()) as object).toMatchObject({ health: 'offline', alive: false, active: false });
    const inactive = (await (await fetch(`${api}/proplets?status=inactive`)).json()) as { proplets: Array<{ id: string }> };
    expect(inactive.proplets.map((p) => p.id)).toEqual([id]);

    // The API process stops cleanly on SIGTERM.
    expect((await apiProcess?.stop('SIGTERM', 10_000))?.code).toBe(0);
  }, 45_000);
});
