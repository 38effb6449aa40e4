import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isInvalid } from '@propeller/events';
import { moduleDigest } from '../sandbox/prepare';
import { wat } from '../testing';
import { ByteLru } from './lru';
import { ModuleStore } from './store';

const MIB = 2 ** 20;
let server: Server;
let base: string;
let add: Uint8Array;
const hits = new Map<string, number>();

beforeAll(async () => {
  add = await wat('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))');
  // A local HTTP server (node:http) stands in for a module host; it counts requests per path.
  server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    if (req.url === '/add.wasm') res.writeHead(200, { 'content-length': add.length }).end(add);
    else if (req.url === '/big.wasm') res.writeHead(200, { 'content-length': 4096 }).end(Buffer.alloc(4096));
    else if (req.url === '/chunked.wasm') {
      // No Content-Length: the limit must hold while streaming.
      res.writeHead(200);
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024));
      res.end();
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const store = (): ModuleStore => new ModuleStore({ memoryMaxBytes: 16 * MIB, maxModuleBytes: 2048 });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(isInvalid(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('ModuleStore', () => {
  it('fetches by URL once and serves the next run from the cache', async () => {
    const s = store();
    const first = await s.resolve({ url: `${base}/add.wasm` });
    const second = await s.resolve({ url: `${base}/add.wasm` });
    expect(second).toBe(first);
    expect(first.digest).toBe(moduleDigest(add));
    expect(hits.get('/add.wasm')).toBe(1);
    // The same bytes inline hit the same cache entry (by digest).
    expect(await s.resolve({ inline: Buffer.from(add).toString('base64') })).toBe(first);
  });

  it('accepts a matching digest and refuses a mismatch naming both digests', async () => {
    const s = store();
    const digest = moduleDigest(add);
    await expect(s.resolve({ url: `${base}/add.wasm`, digest })).resolves.toMatchObject({ digest });
    const wrong = `sha256:${'0'.repeat(64)}`;
    expect((await failure(s.resolve({ inline: Buffer.from(add).toString('base64'), digest: wrong }))).message).toBe(
      `module digest mismatch: expected ${wrong}, got ${digest}`,
    );
  });

  it('refuses a module above the size limit, by Content-Length or while streaming', async () => {
    expect((await failure(store().resolve({ url: `${base}/big.wasm` }))).message).toBe(`module at ${base}/big.wasm is 4096 bytes, above the limit of 2048`);
    expect((await failure(store().resolve({ url: `${base}/chunked.wasm` }))).message).toBe(`module at ${base}/chunked.wasm exceeds the limit of 2048 bytes`);
  });

  it('names the HTTP status of a failed download and refuses non-HTTP URLs', async () => {
    expect((await failure(store().resolve({ url: `${base}/missing.wasm` }))).message).toBe(`module download from ${base}/missing.wasm failed: HTTP 404`);
    await expect(store().resolve({ url: 'file:///etc/passwd' })).rejects.toThrow('image_url: must be an http(s) URL');
  });

  it('goes to the registry for a name, and says so when it has none', async () => {
    const s = new ModuleStore({ memoryMaxBytes: 16 * MIB, registry: async (name) => (name === 'add' ? add : Promise.reject(new Error('unknown'))) });
    await expect(s.resolve({ registryName: 'add' })).resolves.toMatchObject({ digest: moduleDigest(add) });
    await expect(store().resolve({ registryName: 'add' })).rejects.toThrow('module add must come from the registry, which this proplet has no access to');
    await expect(store().resolve({})).rejects.toThrow('the task has no module: neither file nor image_url is set');
  });
});

describe('ByteLru', () => {
  it('evicts the least recently used entries to stay within its byte budget', () => {
    const lru = new ByteLru<string>(10);
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 4);
    expect(lru.get('a')).toBe('A');
    lru.set('c', 'C', 4);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe('A');
    expect(lru.bytes).toBe(8);
    lru.set('huge', 'H', 11);
    expect(lru.get('huge')).toBeUndefined();
  });
});
