import { createHash, randomBytes } from 'node:crypto';
import { isInvalid } from '@propeller/events';
import { chunkModule, DEFAULT_CHUNK_SIZE, parseRegistryChunk, reassembleChunks, type RegistryChunkMessage } from './index';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ADD_WASM = Buffer.from('AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=', 'base64');

describe('chunkModule / reassembleChunks', () => {
  it('round-trips a 1.5 MB module with the same sha256, every chunk valid on the wire', () => {
    const module = randomBytes(1.5 * 1024 * 1024);
    const chunks = chunkModule('registry/big:1', module);
    expect(chunks).toHaveLength(Math.ceil(module.length / DEFAULT_CHUNK_SIZE));
    chunks.forEach((c, i) => {
      expect(c).toMatchObject({ app_name: 'registry/big:1', chunk_idx: i, total_chunks: chunks.length });
      expect(parseRegistryChunk(JSON.stringify(c)).ok).toBe(true);
    });
    const back = reassembleChunks(chunks);
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(back.appName).toBe('registry/big:1');
    expect(sha256(back.bytes)).toBe(sha256(module));
  });

  it('reassembles chunks that arrive out of order and twice', () => {
    const module = randomBytes(10_000);
    const chunks = chunkModule('app', module, 1000);
    const shuffled = [...chunks].reverse().concat(chunks.slice(0, 3));
    const back = reassembleChunks(shuffled);
    expect(back.ok && sha256(back.bytes)).toBe(sha256(module));
  });

  it('sends a module as one chunk when the chunk size covers it (ESP32)', () => {
    const chunks = chunkModule('add', ADD_WASM, ADD_WASM.length);
    expect(chunks).toEqual([{ app_name: 'add', chunk_idx: 0, total_chunks: 1, data: 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=' }]);
  });

  it('splits at the chunk size exactly', () => {
    expect(chunkModule('a', new Uint8Array(3000), 1000).map((c) => Buffer.from(c.data, 'base64').length)).toEqual([1000, 1000, 1000]);
    expect(chunkModule('a', new Uint8Array(3001), 1000).map((c) => Buffer.from(c.data, 'base64').length)).toEqual([1000, 1000, 1000, 1]);
  });

  it('makes one empty chunk of an empty module', () => {
    const chunks = chunkModule('empty', new Uint8Array(0));
    expect(chunks).toEqual([{ app_name: 'empty', chunk_idx: 0, total_chunks: 1, data: '' }]);
    expect(reassembleChunks(chunks)).toMatchObject({ ok: true, bytes: Buffer.alloc(0) });
  });

  it('chunks a view into a larger buffer by its own bytes only', () => {
    const whole = Buffer.from('xxABCDEFyy');
    const view = whole.subarray(2, 8);
    const back = reassembleChunks(chunkModule('v', view, 4));
    expect(back.ok && back.bytes.toString()).toBe('ABCDEF');
  });

  const three = (): RegistryChunkMessage[] => chunkModule('app', Buffer.from('abcdefghi'), 3);
  const chunk = (i: number): RegistryChunkMessage => {
    const c = three()[i];
    if (c === undefined) throw new Error(`no chunk ${i}`);
    return c;
  };
  it.each<[string, () => RegistryChunkMessage[], string, number[] | undefined]>([
    ['no chunks', () => [], 'no_chunks', undefined],
    ['a missing chunk', () => three().filter((c) => c.chunk_idx !== 1), 'missing_chunks', [1]],
    ['chunks of two apps', () => [...three().slice(0, 2), { ...chunk(2), app_name: 'other' }], 'mixed_apps', undefined],
    ['disagreeing totals', () => [...three().slice(0, 2), { ...chunk(2), total_chunks: 4 }], 'inconsistent_total', undefined],
    ['a duplicate with other data', () => [...three(), { ...chunk(0), data: Buffer.from('zzz').toString('base64') }], 'conflicting_duplicate', undefined],
  ])('refuses to reassemble %s', (_name, chunks, reason, missing) => {
    const back = reassembleChunks(chunks());
    expect(back).toMatchObject({ ok: false, reason });
    if (missing !== undefined) expect(!back.ok && back.missing).toEqual(missing);
  });

  it.each([
    ['an empty app name', '', 10],
    ['a chunk size of 0', 'a', 0],
    ['a fractional chunk size', 'a', 1.5],
  ])('refuses %s', (_name, app, size) => {
    let error: unknown;
    try {
      chunkModule(app, new Uint8Array(4), size);
    } catch (e) {
      error = e;
    }
    expect(isInvalid(error)).toBe(true);
  });
});
