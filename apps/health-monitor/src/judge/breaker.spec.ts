import type { PropletHealth } from '@propeller/events';
import { breakerWindowStep, measureSite, sitesToPause, type BreakerConfig, type CountedProplet, type SiteBreaker } from './breaker';

const cfg: BreakerConfig = { share: 0.55, windowMs: 10_000 };

/** `n` proplets of `site` with health `h`. */
const many = (n: number, site: string, h: PropletHealth): CountedProplet[] => Array.from({ length: n }, () => ({ site, health: h }));
const open: SiteBreaker = { paused: false, belowSince: undefined, resuming: false };
const paused: SiteBreaker = { paused: true, belowSince: undefined, resuming: false };

describe('site breaker', () => {
  it('measures the share of a site that is offline or failed, ignoring other sites', () => {
    const fleet = [...many(3, 'a', 'failed'), ...many(2, 'a', 'offline'), ...many(4, 'a', 'healthy'), ...many(1, 'a', 'unknown'), ...many(5, 'b', 'failed')];
    expect(measureSite('a', fleet, 0.55)).toEqual({ site: 'a', share: 0.5, threshold: 0.55, offline: 2, failed: 3, total: 10 });
    expect(measureSite('none', fleet, 0.55)).toMatchObject({ share: 0, total: 0 });
  });

  it.each([
    ['5 of 10 down stays closed', 5, []],
    ['6 of 10 down trips', 6, ['a']],
  ])('%s', (_name, down, expected) => {
    const fleet = [...many(down, 'a', 'failed'), ...many(10 - down, 'a', 'healthy')];
    expect(sitesToPause(['a'], fleet, new Map(), cfg).map((m) => m.site)).toEqual(expected);
  });

  it('does not pause a site that is already paused, nor a site without a failed verdict', () => {
    const fleet = [...many(8, 'a', 'failed'), ...many(8, 'b', 'offline')];
    expect(sitesToPause(['a'], fleet, new Map([['a', paused]]), cfg)).toEqual([]);
    expect(sitesToPause([], fleet, new Map(), cfg)).toEqual([]);
  });

  it('resumes a paused site once its share has stayed below the threshold for the window', () => {
    const fleet = [...many(2, 'a', 'failed'), ...many(8, 'a', 'healthy')];
    const first = breakerWindowStep(new Map([['a', paused]]), fleet, 1_000, cfg);
    expect(first.resumes).toEqual([]);
    expect(first.nextDeadline).toBe(11_000);
    const early = breakerWindowStep(first.breakers, fleet, 10_999, cfg);
    expect(early.resumes).toEqual([]);
    const due = breakerWindowStep(early.breakers, fleet, 11_000, cfg);
    expect(due.resumes).toEqual([{ site: 'a', share: 0.2 }]);
    // Asked once only.
    expect(breakerWindowStep(due.breakers, fleet, 12_000, cfg).resumes).toEqual([]);
  });

  it('restarts the window when the share goes back above the threshold', () => {
    const low = [...many(2, 'a', 'failed'), ...many(8, 'a', 'healthy')];
    const high = [...many(7, 'a', 'failed'), ...many(3, 'a', 'healthy')];
    let s = breakerWindowStep(new Map([['a', paused]]), low, 0, cfg);
    s = breakerWindowStep(s.breakers, high, 5_000, cfg);
    s = breakerWindowStep(s.breakers, low, 6_000, cfg);
    expect(breakerWindowStep(s.breakers, low, 12_000, cfg).resumes).toEqual([]);
    expect(breakerWindowStep(s.breakers, low, 16_000, cfg).resumes).toEqual([{ site: 'a', share: 0.2 }]);
  });

  it('leaves sites that are not paused alone', () => {
    expect(breakerWindowStep(new Map([['a', open]]), many(3, 'a', 'healthy'), 99_000, cfg)).toMatchObject({ resumes: [], nextDeadline: undefined });
  });
});
