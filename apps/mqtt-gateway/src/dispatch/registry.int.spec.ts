import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MqttClient } from 'mqtt';
import { waitFor } from '@propeller/eventstore/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries -- test wiring only: a valid Wasm module of a given size
import { paddedWasm } from '../../../api/src/testing/tasks-world';
import { ModuleSource, moduleDigest, type ModuleStore } from './modules';
import { listen, mqttClient, openDispatchWorld, type DispatchWorld } from './testing';

// registry/proplet answered with chunks (raw MQTT client as the device), modules fetched over HTTP from a
// real local server, with the sha256 pin, the size bound, and OCI references refused.

type Json = Record<string, unknown>;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('dispatch: module registry and modules by URL', () => {
  let d: DispatchWorld;
  let http: Server;
  let base: string;
  const big = paddedWasm(1_500_000);
  // Over one 64 KiB chunk and over a WAMR start's 1,023 bytes.
  const mid = paddedWasm(100_000);
  const small = Buffer.from('AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', 'base64');
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    http = createServer((req, res) => {
      const body = req.url?.startsWith('/big.wasm') ? big : req.url?.startsWith('/mid.wasm') ? mid : req.url?.startsWith('/add.wasm') ? small : undefined;
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/wasm', 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    d = await openDispatchWorld();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(devices.map((c) => c.endAsync().catch(() => undefined)));
    await d?.close();
    await new Promise((r) => http.close(r));
  });

  it('answers a plain MQTT client asking registry/proplet for a 1.5 MB module with chunks that reassemble to the same sha256', async () => {
    const dev = await mqttClient({ protocolVersion: 5 });
    devices.push(dev);
    const chunks = await listen(dev, `m/${d.domainId}/c/ch-reg/registry/server`);
    const appName = `${base}/big.wasm`;
    await dev.publishAsync(`m/${d.domainId}/c/ch-reg/registry/proplet`, JSON.stringify({ app_name: appName }), { qos: 1 });

    const first = await chunks.next((m) => m['app_name'] === appName, 'the first chunk', 30_000);
    const total = Number(first['total_chunks']);
    expect(total).toBeGreaterThan(1);
    await waitFor(() => new Set(chunks.messages.map((m) => m.json['chunk_idx'])).size === total, `all ${total} chunks`, 30_000);
    // Reassembled the way a device does it: order by chunk_idx, base64-decode, concatenate.
    const parts = new Map(chunks.messages.map((m) => [Number(m.json['chunk_idx']), Buffer.from(String(m.json['data']), 'base64')]));
    const bytes = Buffer.concat([...Array(total).keys()].map((i) => parts.get(i) ?? Buffer.alloc(0)));
    expect(bytes.length).toBe(big.length);
    expect(sha256(bytes)).toBe(sha256(big));
  }, 30_000);

  it('answers an ESP32 that was sent an image_url start (the module does not fit 1,023 bytes) with the whole module as one chunk', async () => {
    await d.proplet('reg-esp32', { channelId: 'ch-reg-esp32', layout: 'direct', perPropletTopics: false, dialect: 'wamr' });
    const dev = await mqttClient({ protocolVersion: 5 });
    devices.push(dev);
    const inbox = await listen(dev, `m/${d.domainId}/c/ch-reg-esp32/#`);
    const url = `${base}/mid.wasm`;
    const res = await d.w.http('POST', '/tasks', { name: 'main', image_url: url, inputs: [1], proplet_id: 'reg-esp32', start: true });
    const id = String((res.body as Json)['id']);
    const start = await inbox.next((m) => m['id'] === id, 'the wamr start');
    expect(start).toEqual({ id, name: 'main', state: 0, image_url: url, inputs: [1], proplet_id: 'reg-esp32' });

    await dev.publishAsync(`m/${d.domainId}/c/ch-reg-esp32/registry/proplet`, JSON.stringify({ app_name: url }), { qos: 1 });
    const chunk = await inbox.next((m) => m['app_name'] === url && 'chunk_idx' in m, 'the chunk');
    expect(chunk).toMatchObject({ chunk_idx: 0, total_chunks: 1 });
    expect(sha256(Buffer.from(String(chunk['data']), 'base64'))).toBe(sha256(mid));
  }, 30_000);

  it('fails a task whose image_url pins another sha256, naming both digests', async () => {
    await d.proplet('reg-rust', { channelId: 'ch-reg-rust', layout: 'direct', perPropletTopics: false, dialect: 'wasmtime' });
    const wrong = 'ab'.repeat(32);
    const res = await d.w.http('POST', '/tasks', { name: 'add', image_url: `${base}/add.wasm#sha256=${wrong}`, inputs: [1, 2], proplet_id: 'reg-rust', start: true });
    const id = String((res.body as Json)['id']);
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'failed', 'failed on the digest mismatch');
    const error = String(((await d.w.http('GET', `/tasks/${id}/results`)).body as Json)['error']);
    expect(error).toContain(`sha256:${wrong}`);
    expect(error).toContain(`sha256:${sha256(small)}`);
  }, 30_000);

  it('sends a task whose image_url pins the right sha256 with the fetched module inline', async () => {
    const dev = await mqttClient({ protocolVersion: 5 });
    devices.push(dev);
    const starts = await listen(dev, `m/${d.domainId}/c/ch-reg-rust/control/manager/start`);
    const url = `${base}/add.wasm#sha256=${sha256(small)}`;
    const res = await d.w.http('POST', '/tasks', { name: 'add', image_url: url, inputs: [1, 2], proplet_id: 'reg-rust', start: true });
    const id = String((res.body as Json)['id']);
    const start = await starts.next((m) => m['id'] === id, 'the start');
    expect(start['file']).toBe(small.toString('base64'));
  }, 30_000);

  it('fails a task naming an OCI reference clearly', async () => {
    const res = await d.w.http('POST', '/tasks', { name: 'add', image_url: 'ghcr.io/absmach/add:1', inputs: [1, 2], proplet_id: 'reg-rust', start: true });
    const id = String((res.body as Json)['id']);
    await waitFor(async () => ((await d.w.http('GET', `/tasks/${id}`)).body as Json)['status'] === 'failed', 'failed on the OCI reference');
    expect(String(((await d.w.http('GET', `/tasks/${id}/results`)).body as Json)['error'])).toContain('OCI references are not supported yet');
  }, 30_000);

  it('refuses a module over MODULE_MAX_BYTES, and stores what it fetched by digest', async () => {
    // FAKE object store (in memory): the bound and the fetch are what is under test, against the real HTTP server.
    const blobs = new Map<string, Uint8Array>();
    const store: ModuleStore = {
      getBlob: async (n) => blobs.get(n) ?? null,
      info: async (n) => (blobs.has(n) ? {} : null),
      putBlob: async (m, data) => void blobs.set(m.name, data ?? new Uint8Array()),
    };
    const source = new ModuleSource({ store, maxBytes: 1_000_000 });
    await expect(source.load(`${base}/big.wasm`)).rejects.toThrow(/over MODULE_MAX_BYTES \(1000000\)/);
    const loaded = await source.load(`${base}/add.wasm`);
    expect(loaded.digest).toBe(moduleDigest(small));
    expect(blobs.has(loaded.digest)).toBe(true);
    await expect(source.load(`${base}/missing.wasm`)).rejects.toThrow(/HTTP 404/);
  });
});
