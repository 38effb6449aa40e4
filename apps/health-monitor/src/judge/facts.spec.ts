import { SITE_LABEL, type PropletEvent, type PropletRegisteredData } from '@propeller/events';
import { UNLABELLED_SITE } from './breaker';
import { factOf, siteOf, type PropletLabels } from './facts';

const AT = '2026-11-27T13:00:00.000Z';
const registered = (labels: Record<string, string>): PropletEvent => ({
  type: 'PropletRegistered',
  data: {
    type: 'k8s',
    deviceType: 'pod',
    capabilities: [],
    labels,
    capacity: {},
    dialect: 'wasmtime',
    channel: { domainId: 'propeller', channelId: 'c', layout: 'messages', perPropletTopics: false },
    metadata: {},
    registeredAt: AT,
  } as PropletRegisteredData,
});

describe('proplet facts from events', () => {
  it('reads type, site and unknown health from a registration', () => {
    expect(factOf(undefined, registered({ [SITE_LABEL]: 'plant-a' })).fact).toEqual({ kind: 'registered', type: 'k8s', site: 'plant-a', health: 'unknown' });
    expect(factOf(undefined, registered({})).fact).toEqual(expect.objectContaining({ site: UNLABELLED_SITE }));
  });

  it('lets operator label overrides win over device labels, and a cleared override fall back', () => {
    const start = factOf(undefined, registered({ [SITE_LABEL]: 'plant-a' })).labels as PropletLabels;
    const moved = factOf(start, { type: 'PropletLabelled', data: { labels: { [SITE_LABEL]: 'plant-z' }, labelledAt: AT } });
    expect(moved.fact).toEqual({ kind: 'site', site: 'plant-z' });
    // A device update does not beat the override.
    const updated = factOf(moved.labels, { type: 'PropletUpdated', data: { labels: { [SITE_LABEL]: 'plant-b' }, updatedAt: AT } });
    expect(updated.fact).toEqual({ kind: 'site', site: 'plant-z' });
    const cleared = factOf(updated.labels, { type: 'PropletLabelled', data: { labels: null, labelledAt: AT } });
    expect(cleared.fact).toEqual({ kind: 'site', site: 'plant-b' });
  });

  it('records health changes and forgets deregistered proplets', () => {
    const labels: PropletLabels = { reported: {}, overrides: undefined };
    expect(
      factOf(labels, { type: 'PropletHealthChanged', data: { from: 'unknown', to: 'healthy', reason: 'r', evidence: { source: 'heartbeat' }, fencingToken: 3, changedAt: AT } }).fact,
    ).toEqual({ kind: 'healthRecorded', health: 'healthy' });
    expect(factOf(labels, { type: 'PropletDeregistered', data: { reason: 'pod deleted', deregisteredAt: AT } })).toEqual({ labels: undefined, fact: { kind: 'deregistered' } });
    expect(factOf(labels, { type: 'PropletCordoned', data: { cordonedAt: AT } }).fact).toBeUndefined();
  });

  it('treats an empty site label as no site', () => {
    expect(siteOf({ reported: { [SITE_LABEL]: '' }, overrides: undefined })).toBe(UNLABELLED_SITE);
  });
});
