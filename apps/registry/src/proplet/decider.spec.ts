import type { PropletEvent, PropletRegisteredData } from '@propeller/events';
import { AT, command, given } from '@propeller/events/testing';
import { propletDecider } from './decider';
import { effectiveProplet } from './state';

const LATER = '2026-11-27T13:05:00.000Z';

const esp32 = {
  propletId: 'esp32-7',
  type: 'external' as const,
  deviceType: 'esp32',
  capabilities: ['wasm', 'sensor', 'wifi'],
  labels: { 'propeller.io/site': 'plant-a' },
  capacity: { memory: '512Ki' },
  dialect: 'wamr' as const,
  channel: { domainId: 'propeller', channelId: 'esp32-7', layout: 'messages' as const, perPropletTopics: true },
  metadata: { os: 'zephyr' },
};

const registered: PropletEvent = {
  type: 'PropletRegistered',
  data: { ...(({ propletId: _p, ...rest }) => rest)(esp32), registeredAt: AT } as PropletRegisteredData,
};

describe('Proplet decider', () => {
  it('registers a new proplet with what the device reported', () => {
    given(propletDecider).when(command('proplet.register', esp32)).then([registered]);
  });

  it('records nothing when a known proplet registers again unchanged', () => {
    given(propletDecider, [registered]).when(command('proplet.register', esp32, { issuedAt: LATER })).then([]);
  });

  it('records only the changed fields when a known proplet re-registers', () => {
    given(propletDecider, [registered])
      .when(command('proplet.register', { ...esp32, capabilities: ['wasm'] }, { issuedAt: LATER }))
      .then([{ type: 'PropletUpdated', data: { capabilities: ['wasm'], updatedAt: LATER } }]);
  });

  it('lets a heartbeat registration change nothing of a known proplet', () => {
    given(propletDecider, [registered])
      .when(command('proplet.register', { ...esp32, deviceType: 'linux', capabilities: ['wasm'], dialect: 'wasmtime', origin: 'heartbeat' }, { issuedAt: LATER }))
      .then([]);
  });

  it('takes the type from the device create when a heartbeat registered the proplet first', () => {
    const byHeartbeat: PropletEvent = { ...registered, data: { ...(registered.data as PropletRegisteredData), type: 'external' } };
    given(propletDecider, [byHeartbeat])
      .when(command('proplet.register', { ...esp32, type: 'k8s', origin: 'create' }, { issuedAt: LATER }))
      .then([{ type: 'PropletUpdated', data: { type: 'k8s', updatedAt: LATER } }]);
    const state = [byHeartbeat, { type: 'PropletUpdated', data: { type: 'k8s', updatedAt: LATER } } as PropletEvent].reduce(propletDecider.evolve, propletDecider.initialState());
    expect(state).toMatchObject({ status: 'active', type: 'k8s' });
  });

  it('keeps operator overrides across a re-registration', () => {
    const labelled: PropletEvent = { type: 'PropletLabelled', data: { labels: { zone: 'north' }, deviceType: 'esp32-s3', labelledAt: AT } };
    const changed = given(propletDecider, [registered, labelled]).when(
      command('proplet.register', { ...esp32, deviceType: 'esp32-c3', labels: { 'propeller.io/site': 'plant-b' } }, { issuedAt: LATER }),
    );
    const events = changed.events();
    const state = [registered, labelled, ...events].reduce(propletDecider.evolve, propletDecider.initialState());
    if (state.status !== 'active') throw new Error(`expected active, got ${state.status}`);
    expect(effectiveProplet(state)).toMatchObject({
      deviceType: 'esp32-s3',
      labels: { 'propeller.io/site': 'plant-b', zone: 'north' },
    });
  });

  it('clears an override with null and records nothing for a no-op override', () => {
    const labelled: PropletEvent = { type: 'PropletLabelled', data: { capacity: { cpu: '1' }, labelledAt: AT } };
    given(propletDecider, [registered, labelled]).when(command('proplet.label', { propletId: 'esp32-7', capacity: { cpu: '1' } })).then([]);
    given(propletDecider, [registered, labelled])
      .when(command('proplet.label', { propletId: 'esp32-7', capacity: null }))
      .then([{ type: 'PropletLabelled', data: { capacity: null, labelledAt: AT } }]);
  });

  it('refuses to label, cordon or judge a proplet it does not know', () => {
    given(propletDecider).when(command('proplet.label', { propletId: 'nope', labels: { a: 'b' } })).thenThrows({ code: 'NotFound', message: /nope is not registered/ });
    given(propletDecider).when(command('proplet.cordon', { propletId: 'nope' })).thenThrows({ code: 'NotFound' });
  });

  it('cordons once and uncordons once', () => {
    const cordoned: PropletEvent = { type: 'PropletCordoned', data: { reason: 'upgrade', cordonedAt: AT } };
    given(propletDecider, [registered]).when(command('proplet.cordon', { propletId: 'esp32-7', reason: 'upgrade' })).then([cordoned]);
    given(propletDecider, [registered, cordoned]).when(command('proplet.cordon', { propletId: 'esp32-7' })).then([]);
    given(propletDecider, [registered, cordoned])
      .when(command('proplet.uncordon', { propletId: 'esp32-7' }))
      .then([{ type: 'PropletUncordoned', data: { uncordonedAt: AT } }]);
    given(propletDecider, [registered]).when(command('proplet.uncordon', { propletId: 'esp32-7' })).then([]);
  });

  it('records a health change with the previous health and the judge fencing token, and nothing when unchanged', () => {
    const evidence = { source: 'heartbeat' as const, lastSeenAt: AT };
    const healthy: PropletEvent = {
      type: 'PropletHealthChanged',
      data: { from: 'unknown', to: 'healthy', reason: 'heartbeat', evidence, fencingToken: 7, changedAt: AT },
    };
    given(propletDecider, [registered])
      .when(command('proplet.changeHealth', { propletId: 'esp32-7', to: 'healthy', reason: 'heartbeat', evidence }, { fencingToken: 7 }))
      .then([healthy]);
    given(propletDecider, [registered, healthy])
      .when(command('proplet.changeHealth', { propletId: 'esp32-7', to: 'healthy', reason: 'heartbeat', evidence }, { fencingToken: 7 }))
      .then([]);
  });

  it('does not let the health judge deregister a proplet', () => {
    given(propletDecider, [registered])
      .when(command('proplet.changeHealth', { propletId: 'esp32-7', to: 'deregistered', reason: 'x', evidence: { source: 'silence' } }, { fencingToken: 1 }))
      .thenThrows({ code: 'Invalid', message: /data\.to/ });
  });

  describe('deregistration is a tombstone', () => {
    const gone: PropletEvent = { type: 'PropletDeregistered', data: { reason: 'deleted by operator', deregisteredAt: AT } };

    it('deregisters once', () => {
      given(propletDecider, [registered]).when(command('proplet.deregister', { propletId: 'esp32-7', reason: 'deleted by operator' })).then([gone]);
      given(propletDecider, [registered, gone]).when(command('proplet.deregister', { propletId: 'esp32-7', reason: 'again' })).then([]);
    });

    it('is not revived by a heartbeat', () => {
      given(propletDecider, [registered, gone])
        .when(command('proplet.register', { ...esp32, origin: 'heartbeat' }))
        .thenThrows({ code: 'NotFound', message: /deregistered/ });
    });

    it('is revived by a create, without the old overrides or cordon', () => {
      const events = given(propletDecider, [registered, gone]).when(command('proplet.register', { ...esp32, origin: 'create' }, { issuedAt: LATER })).events();
      expect(events.map((e) => e.type)).toEqual(['PropletRegistered']);
      const state = [registered, gone, ...events].reduce(propletDecider.evolve, propletDecider.initialState());
      expect(state).toMatchObject({ status: 'active', health: 'unknown', cordoned: false, overrides: { labels: undefined } });
    });

    it('refuses commands other than register', () => {
      given(propletDecider, [registered, gone]).when(command('proplet.cordon', { propletId: 'esp32-7' })).thenThrows({ code: 'NotFound', message: /deregistered/ });
    });
  });

  it('lifts a max_tasks limit when a re-registration no longer reports one', () => {
    const limited: PropletEvent = { type: 'PropletUpdated', data: { maxTasks: 2, updatedAt: AT } };
    given(propletDecider, [registered, limited])
      .when(command('proplet.register', esp32, { issuedAt: LATER }))
      .then([{ type: 'PropletUpdated', data: { maxTasks: null, updatedAt: LATER } }]);
  });

  describe('the propeller extension version', () => {
    const withExtension: PropletEvent = { type: 'PropletRegistered', data: { ...registered.data, extensionVersion: 1 } as PropletRegisteredData };

    it('is recorded at registration, so starts can carry task_id and attempt', () => {
      given(propletDecider).when(command('proplet.register', { ...esp32, extensionVersion: 1 })).then([withExtension]);
      const state = given(propletDecider, [withExtension]).state;
      if (state.status !== 'active') throw new Error(`expected active, got ${state.status}`);
      expect(effectiveProplet(state).extensionVersion).toBe(1);
    });

    it('is cleared when the proplet re-registers without the extension', () => {
      const events = given(propletDecider, [withExtension]).when(command('proplet.register', esp32, { issuedAt: LATER })).events();
      expect(events).toEqual([{ type: 'PropletUpdated', data: { extensionVersion: null, updatedAt: LATER } }]);
      const state = [withExtension, ...events].reduce(propletDecider.evolve, propletDecider.initialState());
      expect(state).toMatchObject({ status: 'active', reported: { extensionVersion: undefined } });
    });
  });
});
