import wabtInit from 'wabt';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;

/** Compiles WebAssembly text to binary with the `wabt` package, so tests build their modules instead of committing binaries. */
export async function wat(source: string, features: Parameters<Wabt['parseWat']>[2] = {}): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const module = (await wabt).parseWat('test.wat', source, features);
  try {
    // wabt.js validates with MVP features only, whatever parseWat was given; feature modules are
    // checked by the engine instead (WebAssembly.validate in the tests that need it).
    if (Object.keys(features).length === 0) module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
