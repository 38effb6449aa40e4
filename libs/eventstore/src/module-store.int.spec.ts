import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkModule } from '@propeller/events';
import { ModuleStore, provision } from './index';
import { cleanup, connectTest, testNames } from './testing';

/** PROTOCOL.md "Examples": add(i32, i32) -> i32. */
const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

const names = testNames();
let nc: NatsConnection;
let store: ObjectStore;

beforeAll(async () => {
  nc = await connectTest('eventstore-module-store');
  await provision(nc, names);
  store = await new Objm(nc).open(names.modules);
});
afterAll(async () => {
  await cleanup(nc, names);
  await nc.close();
});

/** The real object store, counting the lookups and writes ModuleStore makes. */
function counting(real: ObjectStore) {
  const calls = { info: 0, putBlob: 0 };
  const wrapped = {
    info: (name: string) => (calls.info++, real.info(name)),
    putBlob: (meta: Parameters<ObjectStore['putBlob']>[0], bytes: Uint8Array) => (calls.putBlob++, real.putBlob(meta, bytes)),
  } as unknown as ObjectStore;
  return { calls, wrapped };
}

describe('ModuleStore (real NATS object store)', () => {
  it('stores a module once by digest: concurrent puts share one write, later puts look nothing up', async () => {
    const { calls, wrapped } = counting(store);
    const modules = new ModuleStore(async () => wrapped);
    const checked = checkModule(ADD_WASM);
    const refs = await Promise.all([modules.put(checked), modules.put(checked), modules.put(checked)]);
    expect(refs).toEqual([checked.ref, checked.ref, checked.ref]);
    expect(calls).toEqual({ info: 1, putBlob: 1 });
    await modules.put(checked);
    expect(calls).toEqual({ info: 1, putBlob: 1 });
    expect(Buffer.from((await store.getBlob(checked.ref.digest)) ?? [])).toEqual(Buffer.from(checked.bytes));
  });

  it('does not write again what another process stored', async () => {
    const checked = checkModule(ADD_WASM);
    await new ModuleStore(async () => store).put(checked);
    const { calls, wrapped } = counting(store);
    await new ModuleStore(async () => wrapped).put(checked);
    expect(calls).toEqual({ info: 1, putBlob: 0 });
  });
});
