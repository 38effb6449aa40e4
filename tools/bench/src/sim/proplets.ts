/**
 * Proplet simulator of the scheduling bench: `SIM_COUNT` MQTT connections (proplet ids
 * `SIM_PREFIX-<offset+i>`), each registers with `create`, beats with `alive` (at once, then every
 * `SIM_BEAT_MS`, default 10 s) and answers every start meant for it at once, without running Wasm: it
 * computes `add` over the inputs (see answer.ts). `SIM_MODE=extension` (default): the `propeller`
 * extension with per-proplet start/stop topics on channel `SIM_CHANNEL`, `messages` layout, `task_started`
 * then the result; `SIM_MODE=upstream`: no extension, `direct` layout, every proplet on the channel's shared
 * start topic (so every start reaches every proplet), the result only. Run: `node --import tsx proplets.ts`.
 *
 * stdout, one line each (parsed by the scheduling scenario):
 *   `c <connected> <failed>`       progress of the connection ramp, and once more when it is done (`done` after)
 *   `s <wire id> <epoch ms>`       a start for one of ours arrived (the device side of create → start)
 *   `x <count> <reason>`           starts that did not parse, so far (first reason)
 *   `e <message>`                  a connection error (first few only)
 * SIGTERM closes every connection and exits.
 */
import { buildAlive, buildCreate, topicsFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { connect, type MqttClient } from 'mqtt';
import { answerStart, type SimMode } from './answer';

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
const mode = env('SIM_MODE', 'extension') as SimMode;
const channelId = env('SIM_CHANNEL', 'control');
// Connections opened at once during the ramp: bounded so the broker's accept queue is not flooded.
const rampConcurrency = Number(env('SIM_RAMP', '100'));
if (mode !== 'extension' && mode !== 'upstream') throw new Error(`SIM_MODE must be extension or upstream, got ${String(mode)}`);

const place: ChannelRef = { domainId, channelId, layout: mode === 'extension' ? 'messages' : 'direct' };
const topics = topicsFor(place);
const clients: MqttClient[] = [];
const timers: NodeJS.Timeout[] = [];
let connected = 0;
let failed = 0;
let errorsShown = 0;
let invalid = 0;
let firstInvalid = '';
const out: string[] = [];
const flush = (): void => {
  if (invalid > 0) out.push(`x ${invalid} ${firstInvalid}\n`);
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
setInterval(flush, 100).unref();

function openProplet(index: number): Promise<void> {
  const id = `${prefix}-${index}`;
  return new Promise((resolve) => {
    const client = connect(broker, { clientId: `${prefix}-${domainId}-${index}`, clean: true, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60 });
    clients.push(client);
    let settled = false;
    client.on('message', (_topic, payload) => {
      const at = Date.now();
      const answer = answerStart(mode, place, id, payload);
      if (answer.kind === 'not_mine') return;
      if (answer.kind === 'invalid') {
        if (invalid++ === 0) firstInvalid = answer.reason.replace(/\n/g, ' ').slice(0, 300);
        return;
      }
      out.push(`s ${answer.wireId} ${at}\n`);
      for (const m of answer.messages) client.publish(m.topic, m.payload, { qos: m.qos ?? 1 });
    });
    client.once('connect', () => {
      connected += 1;
      settled = true;
      const startTopic = mode === 'extension' ? topics.startFor(id) : topics.start;
      // Subscribed before the create, so no start can arrive before we listen.
      client.subscribe(startTopic, { qos: 1 }, (err) => {
        if (err) out.push(`e subscribe ${startTopic}: ${err.message}\n`);
        const create = buildCreate(place, {
          propletId: id,
          deviceType: 'linux',
          capabilities: ['wasm'],
          ...(mode === 'extension' ? { propeller: { type: 'external', perPropletTopics: true } } : {}),
        });
        client.publish(create.topic, create.payload, { qos: 1 });
        const beat = (): void => {
          if (!client.connected) return;
          const alive = buildAlive(place, { propletId: id });
          client.publish(alive.topic, alive.payload, { qos: alive.qos ?? 0 });
        };
        // The first beat right after the create makes the proplet schedulable; later ones are spread over a period.
        timers.push(setTimeout(beat, 200));
        timers.push(
          setTimeout(() => {
            beat();
            timers.push(setInterval(beat, beatMs));
          }, Math.random() * beatMs),
        );
        resolve();
      });
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
      while (next < count) await openProplet(offset + next++);
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
