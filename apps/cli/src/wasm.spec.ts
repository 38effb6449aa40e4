import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseFunction, compileWat, exportedFunctions, loadModule } from './wasm';

const ADD_WAT = `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;
const TWO_WAT = `(module (memory (export "memory") 1) (func (export "a")) (func (export "b")))`;
// The known-good 41-byte `add` module of PROTOCOL.md.
const ADD_BASE64 = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

describe('modules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'propeller-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('compiles .wat to the same bytes as the reference add module', async () => {
    expect(Buffer.from(await compileWat(ADD_WAT)).toString('base64')).toBe(ADD_BASE64);
  });

  it('lists exported functions only (not memories)', async () => {
    expect(exportedFunctions(await compileWat(TWO_WAT))).toEqual(['a', 'b']);
  });

  it('loads a .wat file by compiling it and a .wasm file as it is', async () => {
    await writeFile(join(dir, 'add.wat'), ADD_WAT);
    await writeFile(join(dir, 'add.wasm'), Buffer.from(ADD_BASE64, 'base64'));
    const fromWat = await loadModule(join(dir, 'add.wat'));
    const fromWasm = await loadModule(join(dir, 'add.wasm'));
    expect(fromWat.functions).toEqual(['add']);
    expect(Buffer.from(fromWasm.bytes).equals(Buffer.from(fromWat.bytes))).toBe(true);
  });

  it('refuses bytes that are not Wasm and text that does not parse, naming the file', async () => {
    await writeFile(join(dir, 'bad.wasm'), 'hello world');
    await writeFile(join(dir, 'bad.wat'), '(module (func (export "x") i32.add))');
    await expect(loadModule(join(dir, 'bad.wasm'))).rejects.toThrow(/bad\.wasm: not a WebAssembly module/);
    await expect(loadModule(join(dir, 'bad.wat'))).rejects.toThrow(/bad\.wat: not valid WebAssembly text/);
    await expect(loadModule(join(dir, 'missing.wasm'))).rejects.toThrow(/missing\.wasm: cannot read the module \(ENOENT\)/);
  });
});

describe('chooseFunction', () => {
  it('takes the only exported function', () => {
    expect(chooseFunction(['add'], undefined, 'add.wat')).toBe('add');
  });

  it('takes --function when the module exports it', () => {
    expect(chooseFunction(['a', 'b'], 'b', 'm.wasm')).toBe('b');
  });

  it('lists the exports when there are several and no --function', () => {
    expect(() => chooseFunction(['a', 'b'], undefined, 'm.wasm')).toThrow('m.wasm exports several functions (a, b): choose one with --function');
  });

  it('refuses a --function the module does not export, listing what it does', () => {
    expect(() => chooseFunction(['add'], 'mul', 'add.wat')).toThrow('add.wat exports no function "mul" (it exports: add)');
  });
});
