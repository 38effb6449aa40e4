/**
 * Device simulator process: opens `SIM_COUNT` MQTT connections (device ids `SIM_PREFIX-<offset+i>`),
 * each registers with `create` and then beats with `alive` every `SIM_BEAT_MS` (default 10 s, upstream's
 * period), the first beat spread randomly over one period. Lines are flushed every `SIM_FLUSH_MS` (default 100). Run: `node --import tsx devices.ts`.
 *
 * stdout, one line each (parsed by the heartbeats scenario):
 *   `c <connected> <failed>`  progress of the connection ramp, and once more when it is done (`done` after)
 *   `b <index> <epoch ms>`    a heartbeat handed to the socket (index = offset + i)
 *   `e <message>`             a connection error (first few only)
 * SIGTERM closes every connection and exits.
 */
import { buildAlive, buildCreate, type ChannelRef } from '@propeller/mqtt-protocol';
import { connect, type MqttClient } from 'mqtt';

const env = (key: string, fallback?: string): string => {
  const v = process.env[key] ?? fallback;
  if (v === undefined) throw new Error(`${key} is required`);
  return v;
};

const broker = env('SIM_BROKER', 'mqtt://127.0.0.1:1883');
const domainId = env('SIM_DOMAIN');
const prefix = env('SIM_PREFIX', 'sim');
const count = Number(env('SIM_COUNT'));
const offset = Number(env('SIM_OFFSET', '0'));
const beatMs = Number(env('SIM_BEAT_MS', '10000'));
const channels = Number(env('SIM_CHANNELS', '10'));
// Connections opened at once during the ramp: bounded so the broker's accept queue is not flooded.
const rampConcurrency = Number(env('SIM_RAMP', '200'));
// How often buffered lines go to stdout (ms): the delay before the bench learns a beat was sent, which the
// heartbeats scenario's API poller waits for before it starts polling.
const flushMs = Number(env('SIM_FLUSH_MS', '100'));

const clients: MqttClient[] = [];
const timers: NodeJS.Timeout[] = [];
let connected = 0;
let failed = 0;
let errorsShown = 0;
const out: string[] = [];
const flush = (): void => {
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
setInterval(flush, flushMs).unref();

function placeOf(index: number): ChannelRef {
  return { domainId, channelId: `ch-${index % channels}`, layout: index % 2 === 0 ? 'direct' : 'messages' };
}

function openDevice(index: number): Promise<void> {
  const id = `${prefix}-${index}`;
  const place = placeOf(index);
  return new Promise((resolve) => {
    const client = connect(broker, { clientId: `${prefix}-${domainId}-${index}`, clean: true, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60 });
    clients.push(client);
    let settled = false;
    client.once('connect', () => {
      connected += 1;
      settled = true;
      const create = buildCreate(place, { propletId: id, deviceType: 'rpi', capabilities: ['wasm', 'sensor'] });
      client.publish(create.topic, create.payload, { qos: 1 });
      const beat = (): void => {
        if (!client.connected) return;
        const alive = buildAlive(place, { propletId: id });
        client.publish(alive.topic, alive.payload, { qos: alive.qos });
        out.push(`b ${index} ${Date.now()}\n`);
      };
      const first = setTimeout(() => {
        beat();
        timers.push(setInterval(beat, beatMs));
      }, Math.random() * beatMs);
      timers.push(first);
      resolve();
    });
    client.on('error', (err) => {
      if (errorsShown++ < 5) out.push(`e ${err.message.replace(/\n/g, ' ')}\n`);
      if (!settled) {
        settled = true;
        failed += 1;
        client.end(true);
        resolve();
      }
    });
  });
}

async function main(): Promise<void> {
  let next = 0;
  const report = setInterval(() => out.push(`c ${connected} ${failed}\n`), 1_000);
  await Promise.all(
    Array.from({ length: Math.min(rampConcurrency, count) }, async () => {
      while (next < count) await openDevice(offset + next++);
    }),
  );
  clearInterval(report);
  out.push(`c ${connected} ${failed}\ndone\n`);
  flush();
}

process.on('SIGTERM', () => {
  for (const t of timers) clearTimeout(t);
  flush();
  void Promise.all(clients.map((c) => c.endAsync(true))).finally(() => process.exit(0));
});

main().catch((e: unknown) => {
  process.stderr.write(`sim: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
