import type { SiteEvent } from '@propeller/events';
import { AT, command, given } from '@propeller/events/testing';
import { siteDecider } from './decider';

const LATER = '2026-11-27T13:10:00.000Z';
const measurement = { site: 'plant-a', share: 0.6, threshold: 0.55, offline: 4, failed: 2, total: 10 };

const paused: SiteEvent = { type: 'SiteEvacuationPaused', data: { ...measurement, fencingToken: 7, pausedAt: AT } };
const resumed: SiteEvent = { type: 'SiteEvacuationResumed', data: { site: 'plant-a', by: 'operator', resumedAt: LATER } };

describe('Site decider', () => {
  it('pauses evacuation with the breaker measurement and the judge fencing token', () => {
    given(siteDecider).when(command('site.pauseEvacuation', measurement, { fencingToken: 7 })).then([paused]);
  });

  it('records nothing when an already paused site is paused again', () => {
    given(siteDecider, [paused]).when(command('site.pauseEvacuation', { ...measurement, share: 0.7, offline: 5 }, { fencingToken: 7 })).then([]);
  });

  it('resumes a paused site, naming who resumed it', () => {
    given(siteDecider, [paused]).when(command('site.resumeEvacuation', { site: 'plant-a', by: 'operator' }, { issuedAt: LATER })).then([resumed]);
    given(siteDecider, [paused])
      .when(command('site.resumeEvacuation', { site: 'plant-a', by: 'breakerWindow', share: 0.2 }, { issuedAt: LATER }))
      .then([{ type: 'SiteEvacuationResumed', data: { site: 'plant-a', by: 'breakerWindow', share: 0.2, resumedAt: LATER } }]);
  });

  it('records nothing when a site that never paused, or already resumed, is resumed', () => {
    given(siteDecider).when(command('site.resumeEvacuation', { site: 'plant-a', by: 'operator' })).then([]);
    given(siteDecider, [paused, resumed]).when(command('site.resumeEvacuation', { site: 'plant-a', by: 'operator' })).then([]);
  });

  it('pauses again after a resume', () => {
    const again = given(siteDecider, [paused, resumed]).when(command('site.pauseEvacuation', measurement, { fencingToken: 9, issuedAt: LATER })).events();
    expect(again).toEqual([{ type: 'SiteEvacuationPaused', data: { ...measurement, fencingToken: 9, pausedAt: LATER } }]);
  });

  it('keeps the measurement that tripped the breaker in the state', () => {
    expect(given(siteDecider, [paused]).state).toEqual({
      status: 'paused',
      pause: { share: 0.6, threshold: 0.55, offline: 4, failed: 2, total: 10, fencingToken: 7, pausedAt: AT },
    });
  });

  it('refuses a pause whose counts do not add up, before deciding', () => {
    expect(() => command('site.pauseEvacuation', { ...measurement, offline: 9, failed: 2 }, { fencingToken: 7 })).toThrow(/offline \+ failed/);
  });

  it('refuses a pause without a fencing token', () => {
    expect(() => command('site.pauseEvacuation', measurement)).toThrow(/fencingToken/);
  });
});
