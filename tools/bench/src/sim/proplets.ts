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
import { answerStart, type SimMode } from './answer';
import { runSimFleet, simEnv } from './fleet';

const domainId = simEnv('SIM_DOMAIN');
const beatMs = Number(simEnv('SIM_BEAT_MS', '10000'));
const mode = simEnv('SIM_MODE', 'extension') as SimMode;
const channelId = simEnv('SIM_CHANNEL', 'control');
if (mode !== 'extension' && mode !== 'upstream') throw new Error(`SIM_MODE must be extension or upstream, got ${String(mode)}`);

const place: ChannelRef = { domainId, channelId, layout: mode === 'extension' ? 'messages' : 'direct' };
const topics = topicsFor(place);
let invalid = 0;
let firstInvalid = '';

runSimFleet({
  rampConcurrency: Number(simEnv('SIM_RAMP', '100')),
  beforeFlush: (out) => {
    if (invalid > 0) out.push(`x ${invalid} ${firstInvalid}\n`);
  },
  setUp: ({ client, id }, out, timers) =>
    new Promise<void>((registered) => {
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
        registered();
      });
    }),
});
