import type { PropletEvent, PropletRegisteredData } from '@propeller/events';
import { CapacityLedger, initialPolicyState, place } from '@propeller/scheduling';
import { PropletDirectory } from './proplets';

const AT = '2026-11-27T13:00:00.000Z';
const registered = (fields: Partial<PropletRegisteredData> = {}): PropletEvent => ({
  type: 'PropletRegistered',
  data: {
    type: 'external',
    deviceType: 'rpi',
    capabilities: ['wasm'],
    labels: { 'propeller.io/site': 'plant-a' },
    capacity: { cpu: '2', memory: '1Gi' },
    dialect: 'wasmtime',
    channel: { domainId: 'propeller', channelId: 'control', layout: 'messages', perPropletTopics: true },
    metadata: {},
    registeredAt: AT,
    ...fields,
  },
});
const health = (to: 'healthy' | 'offline' | 'failed'): PropletEvent => ({
  type: 'PropletHealthChanged',
  data: { from: 'unknown', to, reason: 'test', evidence: { source: 'heartbeat' }, fencingToken: 1, changedAt: AT },
});

describe('PropletDirectory', () => {
  it('knows a registered proplet as an unknown-health candidate until it is judged healthy', () => {
    const d = new PropletDirectory();
    expect(d.apply('rpi-1', registered())).toEqual({ kind: 'none' });
    expect(d.candidate('rpi-1')).toMatchObject({ id: 'rpi-1', health: 'unknown', capacity: { cpuMillis: 2000, memoryBytes: 1024 ** 3 } });
    expect(d.apply('rpi-1', health('healthy'))).toEqual({ kind: 'mayTakeMore', propletId: 'rpi-1' });
    expect(d.candidate('rpi-1')?.health).toBe('healthy');
  });

  it('lets operator overrides win over what the device reports, and keeps them across updates', () => {
    const d = new PropletDirectory();
    d.apply('rpi-1', registered());
    d.apply('rpi-1', { type: 'PropletLabelled', data: { labels: { zone: 'north' }, capabilities: ['wasm', 'gpu'], labelledAt: AT } });
    d.apply('rpi-1', { type: 'PropletUpdated', data: { capabilities: ['wasm', 'sensor'], updatedAt: AT } });
    const c = d.candidate('rpi-1');
    expect([...(c?.capabilities ?? [])]).toEqual(['wasm', 'gpu']);
    expect(c?.labels).toEqual({ 'propeller.io/site': 'plant-a', zone: 'north' });
  });

  it('reports a failed or deregistered proplet as lost, and forgets a deregistered one', () => {
    const d = new PropletDirectory();
    d.apply('rpi-1', registered());
    expect(d.apply('rpi-1', health('failed'))).toMatchObject({ kind: 'lost', propletId: 'rpi-1' });
    expect(d.withHealth('failed', 'plant-a')).toEqual(['rpi-1']);
    expect(d.apply('rpi-1', { type: 'PropletDeregistered', data: { reason: 'pod deleted', deregisteredAt: AT } })).toMatchObject({ kind: 'lost' });
    expect(d.candidate('rpi-1')).toBeUndefined();
    expect(d.all()).toEqual([]);
  });

  it('keeps one live candidate array and replaces a changed proplet in its slot', () => {
    const d = new PropletDirectory();
    d.apply('a', registered());
    d.apply('b', registered());
    const all = d.all();
    const before = d.candidate('a');
    d.apply('a', { type: 'PropletCordoned', data: { cordonedAt: AT } });
    expect(d.all()).toBe(all);
    expect(all.map((c) => c.id)).toEqual(['a', 'b']);
    expect(d.candidate('a')).not.toBe(before);
    expect(all[0]).toBe(d.candidate('a'));
    expect(d.candidate('a')?.cordoned).toBe(true);
    expect(d.apply('a', { type: 'PropletUncordoned', data: { uncordonedAt: AT } })).toEqual({ kind: 'mayTakeMore', propletId: 'a' });
    d.apply('a', { type: 'PropletDeregistered', data: { reason: 'gone', deregisteredAt: AT } });
    expect(d.all()).toBe(all);
    expect(all.map((c) => c.id)).toEqual(['b']);
  });

  it('keeps a WAMR heartbeat in its candidate, and ignores older ones and those of other dialects', () => {
    const d = new PropletDirectory();
    d.apply('esp-1', registered({ type: 'external', deviceType: 'esp32', dialect: 'wamr', capacity: {} }));
    d.apply('rpi-1', registered());
    d.heard('esp-1', 5_000);
    d.heard('esp-1', 4_000);
    d.heard('rpi-1', 5_000);
    expect(d.candidate('esp-1')?.lastHeardAt).toBe(5_000);
    expect(d.get('esp-1')?.lastHeardAt).toBe(5_000);
    expect(d.candidate('rpi-1')?.lastHeardAt).toBeUndefined();
    // Everything else about the device is as it was.
    expect(d.candidate('esp-1')).toMatchObject({ id: 'esp-1', dialect: 'wamr', deviceType: 'esp32', health: 'unknown', channel: 'propeller/control' });
  });

  it('answers the WAMR devices on a device\'s channel, with their last heartbeat', () => {
    const d = new PropletDirectory();
    const esp = { type: 'external' as const, deviceType: 'esp32', dialect: 'wamr' as const, capacity: {} };
    d.apply('esp-1', registered(esp));
    d.apply('esp-2', registered(esp));
    d.apply('esp-3', registered({ ...esp, channel: { domainId: 'propeller', channelId: 'other', layout: 'messages', perPropletTopics: true } }));
    d.apply('rpi-1', registered());
    d.heard('esp-2', 7_000);
    expect(d.channelPeers('esp-1').map((c) => [c.id, c.lastHeardAt])).toEqual([
      ['esp-1', undefined],
      ['esp-2', 7_000],
    ]);
    expect(d.channelPeers('esp-3').map((c) => c.id)).toEqual(['esp-3']);
    expect(d.channelPeers('rpi-1')).toEqual([]);
  });

  it('places over its fleet, seeing each change at the next decision', () => {
    const d = new PropletDirectory();
    const ledger = new CapacityLedger();
    d.apply('rpi-1', registered());
    d.apply('rpi-2', registered());
    d.apply('rpi-1', health('healthy'));
    const task = { id: 't', name: 'add' };
    const opts = { now: Date.parse(AT), policy: 'roundrobin' as const };
    expect(place(task, d.fleet(), ledger, initialPolicyState(), opts).placed?.propletId).toBe('rpi-1');
    d.apply('rpi-1', health('offline'));
    d.apply('rpi-2', health('healthy'));
    expect(place(task, d.all(), ledger, initialPolicyState(), opts).placed?.propletId).toBe('rpi-2');
    d.apply('rpi-2', { type: 'PropletDeregistered', data: { reason: 'gone', deregisteredAt: AT } });
    expect(place(task, d.fleet(), ledger, initialPolicyState(), opts).unschedulable?.reasons).toEqual(['health:offline']);
  });
});
