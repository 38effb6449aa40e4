// The body of one task run, executed in its own worker thread (sandbox.ts starts it).
// Plain JavaScript on purpose: a worker must start without a TypeScript loader (tsx would start
// an esbuild service per task), and this file does nothing but instantiate, call and report.
//
// workerData: { module: WebAssembly.Module, mode: 'call' | 'wasi', name, args, cliArgs, env,
//               importedMemories: [{module, name, min, max, shared}], memoryMaxPages, outputLimit }
// Posts exactly one message: { ok: true, value?, stdout, stderr, exitCode? } or { ok: false, error, stdout, stderr, exitCode? }.
import { WASI } from 'node:wasi';
import { parentPort, workerData } from 'node:worker_threads';

const EFAULT = 21;
const { module, mode, name, args, cliArgs, env, importedMemories, memoryMaxPages, outputLimit } = workerData;
const decoder = new TextDecoder();
const captured = { 1: { chunks: [], size: 0 }, 2: { chunks: [], size: 0 } };
let truncated = false;
let memory;

const text = (fd) => {
  const s = decoder.decode(Buffer.concat(captured[fd].chunks));
  return truncated && fd === 1 ? `${s}\n[output truncated at ${outputLimit} bytes]` : s;
};

// A module that hits its memory cap sees memory.grow fail and usually aborts with a bare trap;
// saying that the memory is full turns "unreachable" into a cause an operator can act on.
function atCap() {
  if (!memory || memoryMaxPages === undefined) return '';
  const pages = memory.buffer.byteLength / 65536;
  // Near the cap means the next growth of a typical allocator (often several MiB) failed.
  const near = pages >= memoryMaxPages * 0.9 || memoryMaxPages - pages < 256;
  return near ? ` (memory at ${pages} of the ${memoryMaxPages} pages allowed by PROPLET_TASK_MEMORY_MAX, ${(memoryMaxPages / 16).toFixed(0)} MiB: likely out of memory)` : '';
}

function describe(err) {
  if (err instanceof WebAssembly.RuntimeError) return `trap: ${err.message}${atCap()}`;
  if (err instanceof WebAssembly.LinkError) return `link error (the module imports something the proplet does not provide): ${err.message}`;
  if (err instanceof RangeError && /call stack/i.test(err.message)) return 'trap: call stack exhausted';
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

// stdout and stderr are captured from fd_write rather than real descriptors, bounded by outputLimit,
// so that a chatty task cannot fill the proplet's disk or memory.
function fdWrite(original) {
  return (fd, iovs, iovsLen, nwrittenPtr) => {
    if (fd !== 1 && fd !== 2) return original(fd, iovs, iovsLen, nwrittenPtr);
    try {
      const view = new DataView(memory.buffer);
      let total = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const len = view.getUint32(iovs + i * 8 + 4, true);
        const room = outputLimit - captured[fd].size;
        const take = Math.min(Math.max(room, 0), len);
        if (take > 0) {
          captured[fd].chunks.push(new Uint8Array(memory.buffer, ptr, take).slice());
          captured[fd].size += take;
        }
        if (len > take) truncated = true;
        total += len;
      }
      view.setUint32(nwrittenPtr, total, true);
      return 0;
    } catch {
      return EFAULT;
    }
  };
}

function run() {
  const imports = {};
  for (const m of importedMemories) {
    imports[m.module] ??= {};
    imports[m.module][m.name] = new WebAssembly.Memory({ initial: m.min, maximum: m.max, shared: m.shared });
    memory ??= imports[m.module][m.name];
  }
  const usesWasi = WebAssembly.Module.imports(module).some((i) => i.module === 'wasi_snapshot_preview1');
  let wasi;
  if (usesWasi || mode === 'wasi') {
    wasi = new WASI({ version: 'preview1', args: [name, ...cliArgs], env, returnOnExit: true });
    const wasiImport = { ...wasi.wasiImport, fd_write: fdWrite(wasi.wasiImport.fd_write.bind(wasi.wasiImport)) };
    imports.wasi_snapshot_preview1 = wasiImport;
  }
  const instance = new WebAssembly.Instance(module, imports);
  if (instance.exports.memory instanceof WebAssembly.Memory) memory = instance.exports.memory;
  else if (instance.exports.__propeller_memory instanceof WebAssembly.Memory) memory = instance.exports.__propeller_memory;

  // node:wasi reads the memory from `exports.memory`; a module that imports its memory (built with
  // --import-memory) gets the host's memory shown there, on a view of the instance.
  const forWasi = instance.exports.memory instanceof WebAssembly.Memory || !memory ? instance : { exports: { ...instance.exports, memory } };

  if (mode === 'wasi') {
    const exitCode = wasi.start(forWasi);
    if (exitCode !== 0) {
      const stderr = text(2).trim();
      return { ok: false, error: `exited with code ${exitCode}${stderr ? `: ${stderr.slice(-500)}` : ''}`, exitCode, stdout: text(1), stderr: text(2) };
    }
    return { ok: true, value: text(1), exitCode, stdout: text(1), stderr: text(2) };
  }

  // A WASI reactor (WASI imports, no _start) is initialised before its export is called.
  if (wasi && typeof instance.exports._start !== 'function' && forWasi.exports.memory instanceof WebAssembly.Memory) wasi.initialize(forWasi);
  const value = instance.exports[name](...args);
  return { ok: true, value, stdout: text(1), stderr: text(2) };
}

let outcome;
try {
  outcome = run();
} catch (err) {
  outcome = { ok: false, error: describe(err), stdout: text(1), stderr: text(2) };
}
parentPort.postMessage(outcome);
