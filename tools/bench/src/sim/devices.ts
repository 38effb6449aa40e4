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
import { runSimFleet, simEnv } from './fleet';

const domainId = simEnv('SIM_DOMAIN');
const beatMs = Number(simEnv('SIM_BEAT_MS', '10000'));
const channels = Number(simEnv('SIM_CHANNELS', '10'));

function placeOf(index: number): ChannelRef {
  return { domainId, channelId: `ch-${index % channels}`, layout: index % 2 === 0 ? 'direct' : 'messages' };
}

runSimFleet({
  rampConcurrency: Number(simEnv('SIM_RAMP', '200')),
  // The delay before the bench learns a beat was sent, which the heartbeats scenario's API poller waits for.
  flushMs: Number(simEnv('SIM_FLUSH_MS', '100')),
  setUp({ client, id, index }, out, timers) {
    const place = placeOf(index);
    const create = buildCreate(place, { propletId: id, deviceType: 'rpi', capabilities: ['wasm', 'sensor'] });
    client.publish(create.topic, create.payload, { qos: 1 });
    const beat = (): void => {
      if (!client.connected) return;
      const alive = buildAlive(place, { propletId: id });
      client.publish(alive.topic, alive.payload, { qos: alive.qos });
      out.push(`b ${index} ${Date.now()}\n`);
    };
    timers.push(
      setTimeout(() => {
        beat();
        timers.push(setInterval(beat, beatMs));
      }, Math.random() * beatMs),
    );
  },
});
