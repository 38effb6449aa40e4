import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { LEASE_NAMES, type CommandDataInput, type CommandName } from '@propeller/events';
import { Lease, sendCommand, type CommandOk } from '@propeller/eventstore';
import { waitFor } from '@propeller/eventstore/testing';
import type { TasksTables } from '@propeller/read-models';
// The real scheduler, in-process on the test's prefix and schema (test wiring: an app imports an app).
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only
import { startScheduler, type RunningScheduler } from '@propeller/scheduler';
import type { BuildApiOptions } from '../app';
import { openApiWorld, registration, type ApiWorld } from './index';

/** PROTOCOL.md "Examples": a core module exporting add(i32, i32) -> i32 (41 bytes). */
export const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

/** A valid Wasm module of about `bytes` bytes: the empty module plus one custom section of padding. */
export function paddedWasm(bytes: number): Buffer {
  const payload = Math.max(0, bytes - 8 - 2 - 5);
  const size = 2 + payload;
  const leb: number[] = [];
  let v = size;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    leb.push(b);
  } while (v !== 0);
  return Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00]), Buffer.from(leb), Buffer.from([0x01, 0x78]), Buffer.alloc(payload)]);
}

/** The API world plus the real scheduler, and the test as the health judge (so proplets can become healthy). */
export interface TasksWorld extends ApiWorld {
  scheduler: RunningScheduler;
  /** Registers a proplet through the registry's command and makes it healthy through the judge's verdict. */
  healthyProplet(id: string, over?: Partial<CommandDataInput<'proplet.register'>>): Promise<void>;
  /** Sends a command as another service would (the gateway's results, ...). */
  command<N extends CommandName>(name: N, data: CommandDataInput<N>): Promise<CommandOk>;
}

/** Starts the registry, the scheduler (placement loop active) and the API on one fresh prefix and schema. */
export async function openTasksWorld(over: Partial<BuildApiOptions> = {}): Promise<TasksWorld> {
  const w = await openApiWorld(over);
  let scheduler: RunningScheduler | undefined;
  let judge: Lease | undefined;
  try {
    scheduler = await startScheduler({ nc: w.nc, names: w.names, db: w.db as unknown as Kysely<TasksTables>, registry: new Registry(), standbyPollMs: 200, retryMs: 200 });
    const s = scheduler;
    await waitFor(() => s.loop.isActive(), 'the placement loop to be active');
    await waitFor(() => s.runner.state('tasks').state === 'running', 'the tasks projection to run');
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'api-tasks-test-judge' })).start();
    const token = await judge.waitUntilHeld(5_000);
    const meta = (fencingToken?: number) => ({ correlationId: randomUUID(), issuedAt: new Date().toISOString(), ...(fencingToken === undefined ? {} : { fencingToken }) });
    const command: TasksWorld['command'] = (name, data) => {
      const [aggregate, cmd] = name.split('.') as [string, string];
      return sendCommand(w.nc, w.names, aggregate, cmd, { meta: meta(), data });
    };
    const lease = judge;
    return {
      ...w,
      scheduler: s,
      command,
      async healthyProplet(id, extra = {}) {
        await w.register(
          registration(id, {
            type: 'k8s',
            deviceType: 'linux',
            dialect: 'wasmtime',
            capabilities: ['wasm'],
            capacity: { cpu: '4', memory: '4Gi' },
            channel: { domainId: 'propeller', channelId: 'control', layout: 'messages', perPropletTopics: true },
            ...extra,
          }),
        );
        await sendCommand(w.nc, w.names, 'proplet', 'changeHealth', {
          meta: meta(token),
          data: { propletId: id, to: 'healthy', reason: 'the test judges it healthy', evidence: { source: 'heartbeat' } },
        });
        await waitFor(async () => (await w.http('GET', `/proplets/${encodeURIComponent(id)}`)).body?.health === 'healthy', `proplet ${id} to be healthy`);
      },
      async close() {
        await lease.release().catch(() => undefined);
        await s.stop().catch(() => undefined);
        await w.close();
      },
    };
  } catch (e) {
    await judge?.release().catch(() => undefined);
    await scheduler?.stop().catch(() => undefined);
    await w.close();
    throw e;
  }
}
