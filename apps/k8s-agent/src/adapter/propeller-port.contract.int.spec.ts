import { randomUUID } from 'node:crypto';
import { isNotFound } from '@propeller/events';
import type { PropellerChange, PropellerPort, PropletRegistration, TaskDefinition } from '../port/propeller-port';
import { FakePropeller } from '../testing/fake-propeller';
import { openPropellerWorld, type PropellerWorld } from '../testing/propeller-world';
import { NatsPropellerPort } from './nats-propeller';

/**
 * The `PropellerPort` contract (STYLE.md rule 17): the in-memory FAKE and the real NATS port (on the
 * real registry and scheduler) go through the same cases, so the adapter tests that run on the fake
 * stand for the real thing on what the contract says.
 */

let world: PropellerWorld;
beforeAll(async () => {
  world = await openPropellerWorld();
});
afterAll(() => world?.close());

interface Subject {
  port: PropellerPort;
  close(): Promise<void>;
}
const implementations: Array<[string, () => Promise<Subject>]> = [
  ['FakePropeller (in-memory FAKE)', async () => ({ port: new FakePropeller(), close: async () => undefined })],
  [
    'NatsPropellerPort (real registry and scheduler)',
    async () => {
      const port = await NatsPropellerPort.start({ nc: world.nc, names: world.names, writer: 'contract-test' });
      return { port, close: () => port.stop() };
    },
  ],
];

const owner = { namespace: 'default', name: 'contract', uid: randomUUID() };
const registration = (id: string): PropletRegistration => ({
  id,
  type: 'external',
  deviceType: 'rpi',
  capabilities: ['wasm'],
  labels: {},
  capacity: { cpu: '1' },
  connection: { domainId: 'propeller', channelId: 'control', broker: 'mqtt://127.0.0.1:1883' },
  owner,
});
const task = (id = randomUUID()): TaskDefinition => ({
  id,
  name: 'add',
  functionName: 'add',
  imageUrl: 'oci://example/add:1',
  inputs: [1, 2],
  cliArgs: [],
  env: {},
  daemon: false,
  preferredPropletType: 'any',
  // Pinned to a proplet that never exists, so the scheduler leaves it pending.
  propletSelector: { propletId: `nowhere-${id}` },
  resourceRequirements: {},
  owner,
});

describe.each(implementations)('PropellerPort contract: %s', (_name, make) => {
  let s: Subject;
  beforeEach(async () => {
    s = await make();
  });
  afterEach(() => s.close());

  it('registers a proplet as unknown, and a second identical registration keeps it', async () => {
    const id = `pp-${randomUUID()}`;
    await s.port.registerProplet(registration(id));
    await s.port.registerProplet(registration(id));
    expect(await s.port.getProplet(id)).toMatchObject({ id, type: 'external', health: 'unknown', taskCount: 0 });
    expect(await s.port.getProplet(`never-${id}`)).toBeUndefined();
  });

  it('deregisters at once and idempotently, and deregistering an unknown proplet is no error', async () => {
    const id = `pp-${randomUUID()}`;
    await s.port.registerProplet(registration(id));
    await s.port.deregisterProplet(id, 'PodDeleted');
    await s.port.deregisterProplet(id, 'PodDeleted');
    expect((await s.port.getProplet(id))?.health).toBe('deregistered');
    await expect(s.port.deregisterProplet(`never-${id}`, 'PodDeleted')).resolves.toBeUndefined();
  });

  it('creates a task once by its id, starts it idempotently, and tells subscribers with the owner', async () => {
    const changes: PropellerChange[] = [];
    const unsubscribe = s.port.subscribe((c) => changes.push(c));
    const t = task();
    await s.port.createTask(t);
    await s.port.createTask(t);
    expect(await s.port.getTask(t.id)).toMatchObject({ id: t.id, status: 'created', attempts: 0 });
    await s.port.startTask(t.id);
    await s.port.startTask(t.id);
    expect((await s.port.getTask(t.id))?.status).toBe('pending');
    expect(changes).toContainEqual({ kind: 'task', id: t.id, owner });
    unsubscribe();
  });

  it('stops a task idempotently', async () => {
    const t = task();
    await s.port.createTask(t);
    await s.port.startTask(t.id);
    await s.port.stopTask(t.id, 'TaskDeleted');
    await s.port.stopTask(t.id, 'TaskDeleted');
    expect((await s.port.getTask(t.id))?.status).toBe('stopped');
  });

  it('answers NotFound for starting or stopping a task that does not exist', async () => {
    const id = randomUUID();
    expect(await s.port.getTask(id)).toBeUndefined();
    const failure = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isNotFound(e) ? 'NotFound' : String(e)));
    expect(await failure(s.port.startTask(id))).toBe('NotFound');
    expect(await failure(s.port.stopTask(id, 'TaskDeleted'))).toBe('NotFound');
  });
});
