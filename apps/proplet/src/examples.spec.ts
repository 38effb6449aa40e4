import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskRunner } from './runner';
import { ModuleStore } from './modules/store';
import { Sandbox } from './sandbox/sandbox';
import { wat } from './testing';

// Every example in examples/ compiles and gives the result its README promises.
const EXAMPLES = join(__dirname, '..', '..', '..', 'examples');
const runner = new TaskRunner(new ModuleStore({ memoryMaxBytes: 64 * 2 ** 20 }), new Sandbox({ maxTasks: 4, timeoutMs: 10_000 }));

async function run(file: string, name: string, inputs: unknown[] = [], cliArgs: string[] = []) {
  const bytes = await wat(await readFile(join(EXAMPLES, file), 'utf8'));
  return runner.run({ wireId: `${file}-${inputs.join(',')}-${cliArgs.join(',')}`, module: { inline: Buffer.from(bytes).toString('base64') }, name, inputs, cliArgs });
}

describe('examples', () => {
  it('add.wat adds and compiles to the 41-byte module of PROTOCOL.md', async () => {
    await expect(run('add.wat', 'add', ['2', '3'])).resolves.toMatchObject({ ok: true, result: '5' });
    const bytes = await wat(await readFile(join(EXAMPLES, 'add.wat'), 'utf8'));
    expect(Buffer.from(bytes).toString('base64')).toBe('AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=');
  });

  it('add-main.wat is the ESP32 variant with numeric inputs', async () => {
    await expect(run('add-main.wat', 'main', [40, 2])).resolves.toMatchObject({ ok: true, result: '42' });
  });

  it('fib.wat returns fib(90) exactly as i64', async () => {
    await expect(run('fib.wat', 'fib', ['90'])).resolves.toMatchObject({ ok: true, result: '2880067194370816120' });
    await expect(run('fib.wat', 'fib', ['10'])).resolves.toMatchObject({ result: '55' });
  });

  it('sensor-average.wat averages readings and skips NaN', async () => {
    await expect(run('sensor-average.wat', 'avg', ['21.5', '22', 'NaN', '23.1'])).resolves.toMatchObject({ ok: true, result: '22.2' });
  });

  it('hello-wasi.wat prints its argument to stdout, the result', async () => {
    await expect(run('hello-wasi.wat', '_start', [], ['Propeller'])).resolves.toMatchObject({ ok: true, result: 'Hello, Propeller!\n' });
    await expect(run('hello-wasi.wat', 'hello-wasi')).resolves.toMatchObject({ ok: true, result: 'Hello, world!\n' });
  });
});
