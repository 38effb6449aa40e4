import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import pg from 'pg';
import { maskUrl } from '@propeller/config';

/** The outcome of checking one piece of infrastructure before anything starts. */
export interface CheckOutcome {
  name: 'NATS' | 'Postgres' | 'MQTT';
  address: string;
  ok: boolean;
  error?: string;
  hint: string;
}

const HINTS = {
  NATS: 'start it with `docker compose up -d nats`, or the Debian package: `nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server` (JetStream must be enabled with -js)',
  Postgres: 'start it with `docker compose up -d postgres`, or the Debian package: `pg_ctlcluster <version> main start`',
  MQTT: 'start it with `docker compose up -d mosquitto`, or the Debian package: `mosquitto -d -c /etc/mosquitto/mosquitto.conf`',
} as const;

const message = (e: unknown): string => (e instanceof Error ? e.message || e.name : String(e));

/** NATS answers and has JetStream enabled. */
export async function checkNats(url: string, timeoutMs: number): Promise<CheckOutcome> {
  const base = { name: 'NATS' as const, address: maskUrl(url), hint: HINTS.NATS };
  try {
    const nc = await connectNats({ servers: url, timeout: timeoutMs, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      await jsm.getAccountInfo();
      return { ...base, ok: true };
    } catch (e) {
      return { ...base, ok: false, error: `JetStream is not available: ${message(e)}` };
    } finally {
      await nc.close();
    }
  } catch (e) {
    return { ...base, ok: false, error: message(e) };
  }
}

/** Postgres accepts a connection and answers a query. */
export async function checkPostgres(url: string, timeoutMs: number): Promise<CheckOutcome> {
  const base = { name: 'Postgres' as const, address: maskUrl(url), hint: HINTS.Postgres };
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('select 1');
    return { ...base, ok: true };
  } catch (e) {
    return { ...base, ok: false, error: message(e) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The MQTT broker accepts a connection. */
export async function checkMqtt(url: string, timeoutMs: number): Promise<CheckOutcome> {
  const base = { name: 'MQTT' as const, address: maskUrl(url), hint: HINTS.MQTT };
  const brokerUrl = /^[a-z]+:\/\//.test(url) ? url : `mqtt://${url}`;
  try {
    const client = await mqtt.connectAsync(brokerUrl, { connectTimeout: timeoutMs, reconnectPeriod: 0, clientId: `propeller-preflight-${process.pid}` }, false);
    await client.endAsync();
    return { ...base, ok: true };
  } catch (e) {
    return { ...base, ok: false, error: message(e) };
  }
}

/** Checks the three in parallel. */
export async function preflight(urls: { nats: string; database: string; mqtt: string }, timeoutMs = 3000): Promise<CheckOutcome[]> {
  return Promise.all([checkNats(urls.nats, timeoutMs), checkPostgres(urls.database, timeoutMs), checkMqtt(urls.mqtt, timeoutMs)]);
}
