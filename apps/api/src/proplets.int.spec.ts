import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { LEASE_NAMES, type CommandDataInput } from '@propeller/events';
import { EventStore, Lease, sendCommand } from '@propeller/eventstore';
import { testEnvelope, testNames, waitFor } from '@propeller/eventstore/testing';
import type { ReadModelTables } from '@propeller/read-models';
import { createDb } from '@propeller/projections';
import { buildApi } from './app';
import { openApiWorld, registration, testLogger, type ApiWorld } from './testing';
import { openApiPath } from './openapi';
import { propletMetricsKey } from './proplets/routes';

// The proplets half of the REST API against the real NATS and Postgres, with the real registry
// in-process on this file's own prefix and schema, and the API on port 0.

const esp = (id: string, over: Partial<CommandDataInput<'proplet.register'>> = {}) =>
  registration(id, { labels: { 'propeller.io/site': 'plant-a' }, metadata: { os: 'zephyr', totalMemoryBytes: 524288, wasmRuntime: 'wamr' }, ...over });

describe('REST proplets API', () => {
  let w: ApiWorld;
  let judge: Lease;
  let token: number;

  const changeHealth = (propletId: string, to: 'healthy' | 'offline' | 'failed') =>
    sendCommand(w.nc, w.names, 'proplet', 'changeHealth', {
      meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString(), fencingToken: token },
      data: { propletId, to, reason: `test says ${to}`, evidence: { source: 'heartbeat' } },
    });

  beforeAll(async () => {
    w = await openApiWorld();
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'judge-test' })).start();
    token = await judge.waitUntilHeld(5_000);
    await w.register(esp('list-a'));
    await w.register(esp('list-b', { deviceType: 'rpi', dialect: 'wasmtime', capabilities: ['wasm'], labels: { 'propeller.io/site': 'plant-b', zone: 'north' } }));
    await w.register(esp('list-c', { type: 'k8s', deviceType: 'linux', dialect: 'wasmtime', capabilities: ['wasm', 'compute'], labels: { zone: 'north' }, capacity: { cpu: '2', memory: '2Gi' } }));
    const healthy = await changeHealth('list-b', 'healthy');
    const offline = await changeHealth('list-c', 'offline');
    expect(healthy.sequences).toHaveLength(1);
    expect(offline.sequences).toHaveLength(1);
    await waitFor(async () => (await w.http('GET', '/proplets/list-c')).body.health === 'offline', 'health changes in the read model');
  });

  afterAll(async () => {
    await judge?.release();
    await w?.close();
  });

  describe('GET /proplets', () => {
    it('lists every proplet in id order with the page envelope', async () => {
      const res = await w.http('GET', '/proplets?label=propeller.io/site=plant-a');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ offset: 0, limit: 100, total: 1 });
      expect(res.body.proplets).toEqual([
        {
          id: 'list-a',
          type: 'external',
          health: 'unknown',
          alive: false,
          health_observed_at: expect.any(String),
          health_age_seconds: expect.any(Number),
          // Registered by command, never heard from over MQTT: nothing in the liveness KV.
          last_seen_at: null,
          last_seen_source: null,
          active: true,
          cordoned: false,
          device_type: 'esp32',
          capabilities: ['wasm', 'sensor'],
          labels: { 'propeller.io/site': 'plant-a' },
          capacity: {},
          max_tasks: null,
          dialect: 'wamr',
          channel: { domain_id: 'propeller', channel_id: 'ch-list-a', layout: 'messages', per_proplet_topics: true },
          task_count: 0,
          running_task_count: 0,
          metadata: { os: 'zephyr', total_memory_bytes: 524288, wasm_runtime: 'wamr' },
          owner: null,
          extension_version: null,
          registered_at: expect.any(String),
          updated_at: expect.any(String),
          seq: expect.any(Number),
        },
      ]);
      expect(res.body.proplets[0].health_age_seconds).toBeGreaterThanOrEqual(0);
      expect(res.body.proplets[0].health_age_seconds).toBeLessThan(60);
    });

    it('filters by type, device type, capability, label, health and status', async () => {
      const ids = async (query: string) => {
        const res = await w.http('GET', `/proplets?${query}`);
        expect(res.status).toBe(200);
        return (res.body.proplets as Array<{ id: string }>).map((p) => p.id).filter((id) => id.startsWith('list-'));
      };
      expect(await ids('type=k8s')).toEqual(['list-c']);
      expect(await ids('device_type=rpi')).toEqual(['list-b']);
      expect(await ids('capability=wasm&capability=compute')).toEqual(['list-c']);
      expect(await ids('label=zone=north')).toEqual(['list-b', 'list-c']);
      expect(await ids('label=zone=north&label=propeller.io/site=plant-b')).toEqual(['list-b']);
      expect(await ids('health=offline&health=healthy')).toEqual(['list-b', 'list-c']);
      expect(await ids('status=inactive')).toEqual(['list-c']);
      expect(await ids('status=active')).toEqual(['list-a', 'list-b']);
    });

    it('shows upstream alive only for healthy proplets', async () => {
      const b = await w.http('GET', '/proplets/list-b');
      const c = await w.http('GET', '/proplets/list-c');
      expect(b.body).toMatchObject({ health: 'healthy', alive: true, active: true });
      expect(c.body).toMatchObject({ health: 'offline', alive: false, active: false });
    });

    it('pages with offset and limit while total counts every match', async () => {
      const res = await w.http('GET', '/proplets?label=zone=north&limit=1&offset=1');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ offset: 1, limit: 1, total: 2 });
      expect(res.body.proplets.map((p: { id: string }) => p.id)).toEqual(['list-c']);
    });
  });

  describe('errors name the field, the value and the rule', () => {
    it('refuses a label filter without =', async () => {
      const res = await w.http('GET', '/proplets?label=novalue');
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'Invalid', details: { issues: [{ field: 'label', value: 'novalue', rule: 'must be key=value with a non-empty key' }] } });
      expect(res.body.error.message).toContain('label');
    });

    it('refuses a limit out of range and a non-numeric offset', async () => {
      const res = await w.http('GET', '/proplets?limit=5000&offset=x');
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'limit', value: '5000', rule: 'must be an integer from 1 to 1000' },
          { field: 'offset', value: 'x', rule: expect.stringContaining('must be an integer from 0') },
        ]),
      );
    });

    it('refuses an unknown query parameter and a bad enum value', async () => {
      const res = await w.http('GET', '/proplets?devicetype=esp32&status=dead');
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'devicetype', value: 'esp32', rule: expect.stringContaining('is not a known field') },
          { field: 'status', value: 'dead', rule: 'must be active or inactive' },
        ]),
      );
    });

    it('refuses an unknown PATCH field, an empty PATCH and bad label values', async () => {
      const unknown = await w.http('PATCH', '/proplets/list-a', { labels: { a: 'b' }, colour: 'red' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details.issues).toEqual([{ field: 'colour', value: 'red', rule: expect.stringMatching(/^is not a known field \(allowed: labels, capacity, device_type, capabilities\)$/) }]);

      const empty = await w.http('PATCH', '/proplets/list-a', {});
      expect(empty.status).toBe(400);
      expect(empty.body.error.details.issues[0].rule).toBe('must set at least one of labels, capacity, device_type, capabilities');

      const badLabel = await w.http('PATCH', '/proplets/list-a', { labels: { zone: 7 }, capacity: { cpu: 'lots' } });
      expect(badLabel.status).toBe(400);
      expect(badLabel.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'labels.zone', value: 7, rule: expect.stringContaining('string') },
          { field: 'capacity.cpu', value: 'lots', rule: expect.stringContaining('Kubernetes quantity') },
        ]),
      );
      // Nothing was written: the proplet is as registered.
      expect((await w.http('GET', '/proplets/list-a')).body.labels).toEqual({ 'propeller.io/site': 'plant-a' });
    });

    it('answers 400 for malformed JSON and 413 for a body over 64 KiB', async () => {
      const malformed = await w.http('PATCH', '/proplets/list-a', '{"labels": ');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error).toMatchObject({ code: 'Invalid', details: { issues: [{ field: 'body', rule: 'must be a JSON document' }] } });

      const big = await w.http('PATCH', '/proplets/list-a', { labels: { big: 'x'.repeat(70 * 1024) } });
      expect(big.status).toBe(413);
      expect(big.body.error).toMatchObject({ code: 'Invalid', details: { issues: [{ field: 'body' }] } });
    });

    it('answers 404 with code NotFound for an unknown proplet and an unknown route', async () => {
      const res = await w.http('GET', '/proplets/nobody');
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'NotFound', message: expect.stringContaining('nobody'), details: { propletId: 'nobody' } });
      expect((await w.http('GET', '/nothing-here')).body.error.code).toBe('NotFound');
      expect((await w.http('POST', '/proplets/nobody/cordon')).status).toBe(404);
    });
  });

  describe('writes answer once the read model shows them', () => {
    it('PATCH sets overrides, shown at once; null clears one', async () => {
      await w.register(esp('patch-1'));
      const res = await w.http('PATCH', '/proplets/patch-1', { labels: { zone: 'south' }, capacity: { memory: '1Mi' }, device_type: 'esp32-s3', capabilities: ['wasm', 'sensor', 'camera'] });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: 'patch-1',
        labels: { 'propeller.io/site': 'plant-a', zone: 'south' },
        capacity: { memory: '1Mi' },
        device_type: 'esp32-s3',
        capabilities: ['wasm', 'sensor', 'camera'],
      });

      const cleared = await w.http('PATCH', '/proplets/patch-1', { device_type: null, labels: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body).toMatchObject({ device_type: 'esp32', labels: { 'propeller.io/site': 'plant-a' }, capacity: { memory: '1Mi' } });
    });

    it('an override survives the device registering again', async () => {
      await w.register(esp('patch-2'));
      expect((await w.http('PATCH', '/proplets/patch-2', { device_type: 'esp32-c3' })).status).toBe(200);
      await w.register(esp('patch-2', { deviceType: 'esp32', capabilities: ['wasm'] }));
      expect((await w.http('GET', '/proplets/patch-2')).body).toMatchObject({ device_type: 'esp32-c3', capabilities: ['wasm'] });
    });

    it('cordons with a reason and uncordons', async () => {
      await w.register(esp('cordon-1'));
      const cordoned = await w.http('POST', '/proplets/cordon-1/cordon', { reason: 'maintenance' });
      expect(cordoned.status).toBe(200);
      expect(cordoned.body).toMatchObject({ id: 'cordon-1', cordoned: true });
      expect((await w.http('GET', '/proplets/cordon-1')).body.cordoned).toBe(true);

      const uncordoned = await w.http('POST', '/proplets/cordon-1/uncordon');
      expect(uncordoned.status).toBe(200);
      expect(uncordoned.body.cordoned).toBe(false);
    });

    it('DELETE deregisters; the proplet is 404 afterwards, and a second DELETE is 404', async () => {
      await w.register(esp('delete-1'));
      const res = await w.http('DELETE', '/proplets/delete-1?reason=decommissioned');
      expect(res.status).toBe(204);
      expect((await w.http('GET', '/proplets/delete-1')).status).toBe(404);
      expect((await w.http('DELETE', '/proplets/delete-1')).status).toBe(404);
    });
  });

  describe('ids, headers and content types', () => {
    it('reads and writes a proplet whose id holds spaces, slashes and dots (percent-encoded in the path)', async () => {
      const id = 'room 1/esp.32%';
      await w.register(esp(id, { channel: { domainId: 'propeller', channelId: 'room-1', layout: 'messages', perPropletTopics: true } }));
      const path = `/proplets/${encodeURIComponent(id)}`;
      expect((await w.http('GET', path)).body).toMatchObject({ id });
      const patched = await w.http('PATCH', path, { labels: { zone: 'west' } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id, labels: { zone: 'west' } });
    });

    it('carries the client traceparent and x-correlation-id into the event it causes', async () => {
      await w.register(esp('trace-1'));
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const res = await w.http('POST', '/proplets/trace-1/cordon', { reason: 'traced' }, { traceparent, 'x-correlation-id': 'cli-42' });
      expect(res.status).toBe(200);
      const stored = await (await jetstreamManager(w.nc)).streams.getMessage(w.names.stream, { seq: res.body.seq });
      expect(stored).not.toBeNull();
      expect(JSON.parse(new TextDecoder().decode(stored?.data))).toMatchObject({ type: 'PropletCordoned', aggregateId: 'trace-1', traceparent, correlationId: 'cli-42' });
    });

    it('answers 415 for a body type it does not parse and 400 for a text body', async () => {
      const res = await fetch(`${w.base}/proplets/list-a`, { method: 'PATCH', headers: { 'content-type': 'application/xml' }, body: '<labels/>' });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('Invalid');
      const text = await fetch(`${w.base}/proplets/list-a`, { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: 'labels=a' });
      expect(text.status).toBe(400);
    });
  });

  describe('GET /proplets/{id}/metrics', () => {
    it('answers the latest metrics in the metrics KV, 404 when there are none', async () => {
      expect((await w.http('GET', '/proplets/list-a/metrics')).status).toBe(404);
      const kv = await new Kvm(w.nc).open(w.names.kv.metrics);
      const message = { proplet_id: 'list-a', cpu_metrics: { percent: 12.5 }, memory_metrics: { rss_bytes: 1024 }, timestamp: 5000 };
      // The record as the mqtt-gateway writes it.
      await kv.put(propletMetricsKey('list-a'), JSON.stringify({ kind: 'metrics', propletId: 'list-a', at: '2026-11-27T13:00:00.000Z', receivedAt: '2026-11-27T13:00:01.000Z', message }));
      const res = await w.http('GET', '/proplets/list-a/metrics');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ...message, at: '2026-11-27T13:00:00.000Z', received_at: '2026-11-27T13:00:01.000Z' });
    });
  });

  describe('sites', () => {
    it('lists sites with proplets by health and resumes a paused evacuation', async () => {
      const pause = await sendCommand(w.nc, w.names, 'site', 'pauseEvacuation', {
        meta: { correlationId: randomUUID(), issuedAt: '2026-11-27T13:00:00.000Z', fencingToken: token },
        data: { site: 'plant-b', share: 1, threshold: 0.55, offline: 1, failed: 0, total: 1 },
      });
      expect(pause.sequences).toHaveLength(1);
      const before = await w.http('GET', '/sites');
      expect(before.status).toBe(200);
      const plantB = before.body.sites.find((s: { site: string }) => s.site === 'plant-b');
      expect(plantB).toEqual({
        site: 'plant-b',
        proplets: { total: 1, unknown: 0, healthy: 1, offline: 0, failed: 0 },
        evacuation: { paused: true, paused_at: '2026-11-27T13:00:00.000Z', share: 1, threshold: 0.55 },
      });
      expect(before.body.sites.find((s: { site: string }) => s.site === 'plant-a').evacuation).toEqual({ paused: false });

      const resumed = await w.http('POST', '/sites/plant-b/evacuation/resume');
      expect(resumed.status).toBe(200);
      expect(resumed.body.evacuation).toMatchObject({ paused: false, resumed_by: 'operator' });
    });
  });

  describe('/metrics', () => {
    it('serves propeller_proplets_total by type and health from the read model, and process metrics', async () => {
      const res = await w.http('GET', '/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = res.body as string;
      const gauge = (type: string, health: string) => Number(new RegExp(`^propeller_proplets_total\\{type="${type}",health="${health}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      const page = (await w.http('GET', '/proplets?type=external&health=unknown&limit=1')).body.total as number;
      expect(gauge('external', 'unknown')).toBe(page);
      expect(gauge('k8s', 'offline')).toBe(1);
      expect(gauge('external', 'healthy')).toBe(1);
      expect(gauge('k8s', 'failed')).toBe(0);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(text).toMatch(/^propeller_api_requests_total\{method="GET",route="\/proplets",status="200"\} \d+$/m);
    });
  });

  describe('/openapi.json', () => {
    it('documents every registered route', async () => {
      const res = await w.http('GET', '/openapi.json');
      expect(res.status).toBe(200);
      expect(res.body.openapi).toBe('3.1.0');
      const documented = new Set(Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
      const registered = w.api.registered.map((r) => `${r.method} ${openApiPath(r.url)}`);
      expect(registered.length).toBeGreaterThanOrEqual(12);
      expect(registered.filter((r) => !documented.has(r))).toEqual([]);
      expect([...documented].filter((d) => !registered.includes(d))).toEqual([]);
      const list = res.body.paths['/proplets'].get;
      expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(['type', 'health', 'device_type', 'capability', 'label', 'status', 'offset', 'limit']);
      expect(res.body.paths['/proplets/{id}'].patch.requestBody.content['application/json'].schema).toMatchObject({ additionalProperties: false });
    });
  });

  describe('when the projection is stopped or stalled', () => {
    it('answers 202 with Location while the read model lags, and at once for a command that changes nothing', async () => {
      await w.register(esp('lag-1'));
      expect((await w.http('POST', '/proplets/lag-1/cordon')).status).toBe(200);
      await w.registry.runner.stop();
      try {
        const lagging = await w.http('PATCH', '/proplets/lag-1', { labels: { zone: 'east' } });
        expect(lagging.status).toBe(202);
        expect(lagging.headers.get('location')).toBe('/proplets/lag-1');
        expect(lagging.body).toEqual({ status: 'accepted', location: '/proplets/lag-1', sequence: expect.any(Number) });
        // Cordoning a cordoned proplet appends nothing: answered at once from the read model.
        const started = Date.now();
        const again = await w.http('POST', '/proplets/lag-1/cordon');
        expect(again.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(1500);
      } finally {
        w.registry.runner.start();
      }
      await waitFor(async () => (await w.http('GET', '/proplets/lag-1')).body.labels?.zone === 'east', 'the lagging write to show');
    });

    it('/health is 200 pass while NATS and Postgres answer and nothing is stalled', async () => {
      const res = await w.http('GET', '/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'pass', checks: { nats: { status: 'pass' }, postgres: { status: 'pass' }, projections: { status: 'pass' } } });
    });

    it('/health is 503 naming postgres when Postgres is unreachable', async () => {
      const deadDb = createDb<ReadModelTables>({ url: 'postgres://postgres@127.0.0.1:1/test', schema: 'nowhere', poolMax: 1 });
      const api = buildApi({ db: deadDb, nc: w.nc, names: w.names, config: { api: { readYourWritesTimeout: 100 } }, logger: testLogger() });
      try {
        const port = await api.listen(0, '127.0.0.1');
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        expect(res.status).toBe(503);
        const body = (await res.json()) as { status: string; checks: Record<string, unknown> };
        expect(body.status).toBe('fail');
        expect(body.checks.postgres).toMatchObject({ status: 'fail', detail: expect.any(String) });
        expect(body.checks.nats).toEqual({ status: 'pass' });
      } finally {
        await api.close();
        await deadDb.destroy();
      }
    });

    it('answers 503 Internal naming the command when no registry answers (its service is away: retry later)', async () => {
      // An API on a prefix no registry serves: the command has no responder.
      const lonely = buildApi({ db: w.db, nc: w.nc, names: testNames(), config: { api: { readYourWritesTimeout: 100 } }, logger: testLogger() });
      try {
        const port = await lonely.listen(0, '127.0.0.1');
        const res = await fetch(`http://127.0.0.1:${port}/proplets/list-a/uncordon`, { method: 'POST' });
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual({
          error: { code: 'Internal', message: expect.stringMatching(/commands\.proplet\.uncordon: no service answers$/), details: expect.objectContaining({ reason: 'noResponders' }) },
        });
      } finally {
        await lonely.close();
      }
    });

    // Last in this file: it leaves the projection stalled.
    it('/health is 503 with the stalled projection named once an event cannot be applied', async () => {
      await new EventStore(w.nc, w.names).append('proplet', 'broken', [testEnvelope('proplet', 'broken', { type: 'PropletRegistered', schemaVersion: 2, data: { type: 'external' } })], 0);
      await waitFor(async () => (await w.http('GET', '/health')).status === 503, '/health to report the stall');
      const res = await w.http('GET', '/health');
      expect(res.body.status).toBe('degraded');
      expect(res.body.checks.projections).toEqual({ status: 'degraded', detail: expect.stringMatching(/^proplets stalled: .*PropletRegistered/) });
      expect(res.body.checks.postgres).toEqual({ status: 'pass' });
    });
  });
});
