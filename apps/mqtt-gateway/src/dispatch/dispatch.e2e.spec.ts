import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { waitFor } from '@propeller/eventstore/testing';
import { spawnNode, waitUntilServing, type SpawnedService } from '@propeller/service/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only (see ./testing.ts)
import { openTasksWorld, type TasksWorld } from '../../../api/src/testing/tasks-world';
import { ensureInbox } from '../nats';
import { cleanupInbox, TEST_BROKER, testDomainId } from '../testing';
import { ADD_WASM, listen, mqttClient } from './testing';

// The gateway PROCESS (main.ts) dispatches: a REST task reaches a raw MQTT device, its result completes the
// task, and the process stops on SIGTERM with exit 0. API, registry and scheduler run in-process.

type Json = Record<string, unknown>;

describe('the gateway process dispatches tasks', () => {
  let w: TasksWorld;
  let gateway: SpawnedService;
  let device: MqttClient;
  const domainId = testDomainId();

  beforeAll(async () => {
    w = await openTasksWorld();
    await ensureInbox(w.nc, w.names);
    gateway = spawnNode('--import', {
      args: ['tsx', resolve(__dirname, '..', 'main.ts')],
      cwd: resolve(__dirname, '../../../..'),
      env: {
        NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
        PROPELLER_NATS_PREFIX: w.names.prefix,
        MQTT_BROKER: TEST_BROKER,
        PROPELLER_DOMAIN_ID: domainId,
        GATEWAY_REPLICA: 'e2e',
        GATEWAY_SHARE_GROUP: `g-${domainId}`,
        GATEWAY_SESSION_EXPIRY: '2m',
        PROPELLER_MQTT_CLIENT_ID: `gw-${domainId}-e2e`,
        METRICS_PORT: '0',
        LOG_LEVEL: 'info',
      },
    });
    await waitUntilServing(gateway, 25_000);
    device = await mqttClient({ protocolVersion: 5 });
  }, 60_000);
  afterAll(async () => {
    await device?.endAsync().catch(() => undefined);
    await gateway?.stop().catch(() => undefined);
    if (w) await cleanupInbox(w.nc, w.names).catch(() => undefined);
    await w?.close();
  });

  it('sends the start of a REST task to the device, completes the task on its result, and exits 0 on SIGTERM', async () => {
    await w.healthyProplet('e2e-rust', {
      type: 'external',
      deviceType: 'linux',
      dialect: 'wasmtime',
      channel: { domainId, channelId: 'ch-e2e', layout: 'direct', perPropletTopics: false },
    });
    const starts = await listen(device, `m/${domainId}/c/ch-e2e/control/manager/start`);
    // The process's directory follows the proplet events; a task placed before it knows the proplet is retried.
    const res = await w.http('POST', '/tasks', { name: 'add', file: ADD_WASM, inputs: [40, 2], proplet_id: 'e2e-rust', start: true });
    expect(res.status).toBe(201);
    const id = String((res.body as Json)['id']);
    const start = await starts.next((m) => m['id'] === id, 'the start from the gateway process', 20_000);
    expect(start).toMatchObject({ id, name: 'add', inputs: ['40', '2'], file: ADD_WASM, proplet_id: 'e2e-rust' });

    await device.publishAsync(`m/${domainId}/c/ch-e2e/control/proplet/results`, JSON.stringify({ task_id: id, proplet_id: 'e2e-rust', results: '42' }), { qos: 1 });
    await waitFor(async () => ((await w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'completed', 'completed', 15_000);
    expect((await w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ results: '42', status: 'completed' });

    const exit = await gateway.stop('SIGTERM', 15_000);
    expect(exit.code).toBe(0);
  }, 45_000);
});
