/**
 * Compiles every `examples/*.wat` into `examples/dist/<name>.wasm` with the `wabt` npm package.
 * No binary is committed (dist/ is git-ignored); tests compile what they need themselves.
 *
 * Run: `npx tsx examples/build.ts [outDir]` (or `npm run build:examples -w @propeller/proplet`).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import wabtInit from 'wabt';

const examplesDir = __dirname;

/** Compiles one `.wat` source to validated Wasm bytes; throws with the file name on a syntax error. */
export async function compileWatFile(file: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const source = await readFile(file, 'utf8');
  const module = wabt.parseWat(basename(file), source);
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? join(examplesDir, 'dist'));
  await mkdir(outDir, { recursive: true });
  const sources = (await readdir(examplesDir)).filter((f) => f.endsWith('.wat')).sort();
  for (const source of sources) {
    const bytes = await compileWatFile(join(examplesDir, source));
    const target = join(outDir, source.replace(/\.wat$/, '.wasm'));
    await writeFile(target, bytes);
    console.log(`${source} -> ${target} (${bytes.length} bytes)`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
