import type { PropletEvent, PropletRegisteredData } from '@propeller/events';
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

  it('keeps the same candidate array until a proplet changes', () => {
    const d = new PropletDirectory();
    d.apply('a', registered());
    const first = d.all();
    expect(d.all()).toBe(first);
    d.apply('a', { type: 'PropletCordoned', data: { cordonedAt: AT } });
    expect(d.all()).not.toBe(first);
    expect(d.candidate('a')?.cordoned).toBe(true);
    expect(d.apply('a', { type: 'PropletUncordoned', data: { uncordonedAt: AT } })).toEqual({ kind: 'mayTakeMore', propletId: 'a' });
  });
});
