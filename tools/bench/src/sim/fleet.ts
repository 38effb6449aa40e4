import { connect, type MqttClient } from 'mqtt';

/**
 * What the simulators of the bench share: the `SIM_*` environment, one MQTT connection per simulated
 * device opened in a bounded ramp, stdout lines buffered and flushed every `flushMs`, the progress lines
 * `c <connected> <failed>` (and `done` at the end of the ramp), the first few connection errors as
 * `e <message>`, and SIGTERM closing every connection. Each simulator says what a device does once
 * connected (`setUp`).
 */

/** A `SIM_*` variable, or its fallback; throws naming the variable when it has neither. */
export const simEnv = (key: string, fallback?: string): string => {
  const v = process.env[key] ?? fallback;
  if (v === undefined) throw new Error(`${key} is required`);
  return v;
};

/** One connected simulated device. */
export interface SimDevice {
  client: MqttClient;
  /** `SIM_PREFIX-<index>`. */
  id: string;
  index: number;
}

/** What a simulator hands to `runSimFleet`. */
export interface SimFleetOptions {
  /** Connections opened at once during the ramp (bounded so the broker's accept queue is not flooded). */
  rampConcurrency: number;
  /** How often buffered lines go to stdout (default 100 ms). */
  flushMs?: number;
  /** Adds lines of its own right before each flush (e.g. a running count). */
  beforeFlush?: (out: string[]) => void;
  /** Sets up one device once it is connected; resolves when it is registered. */
  setUp: (device: SimDevice, out: string[], timers: NodeJS.Timeout[]) => Promise<void> | void;
}

/** Runs the fleet of `SIM_COUNT` devices from `SIM_OFFSET` on `SIM_BROKER` in domain `SIM_DOMAIN`. */
export function runSimFleet(o: SimFleetOptions): void {
  const broker = simEnv('SIM_BROKER', 'mqtt://127.0.0.1:1883');
  const domainId = simEnv('SIM_DOMAIN');
  const prefix = simEnv('SIM_PREFIX', 'sim');
  const count = Number(simEnv('SIM_COUNT'));
  const offset = Number(simEnv('SIM_OFFSET', '0'));
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const out: string[] = [];
  let connected = 0;
  let failed = 0;
  let errorsShown = 0;
  const flush = (): void => {
    o.beforeFlush?.(out);
    if (out.length > 0) process.stdout.write(out.splice(0).join(''));
  };
  setInterval(flush, o.flushMs ?? 100).unref();

  const open = (index: number): Promise<void> =>
    new Promise((resolve) => {
      const client = connect(broker, { clientId: `${prefix}-${domainId}-${index}`, clean: true, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60 });
      clients.push(client);
      let settled = false;
      client.once('connect', () => {
        connected += 1;
        settled = true;
        void Promise.resolve(o.setUp({ client, id: `${prefix}-${index}`, index }, out, timers)).finally(resolve);
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

  const main = async (): Promise<void> => {
    let next = 0;
    const report = setInterval(() => out.push(`c ${connected} ${failed}\n`), 1_000);
    await Promise.all(
      Array.from({ length: Math.min(o.rampConcurrency, count) }, async () => {
        while (next < count) await open(offset + next++);
      }),
    );
    clearInterval(report);
    out.push(`c ${connected} ${failed}\ndone\n`);
    flush();
  };

  process.on('SIGTERM', () => {
    for (const t of timers) clearTimeout(t);
    flush();
    void Promise.all(clients.map((c) => c.endAsync(true))).finally(() => process.exit(0));
  });

  main().catch((e: unknown) => {
    process.stderr.write(`sim: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
