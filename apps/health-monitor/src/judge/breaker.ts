import type { PropletHealth } from '@propeller/events';

/**
 * The site evacuation breaker (ARCHITECTURE.md "Health") as pure code: before a `failed` verdict leads
 * to evacuation, the share of the site's proplets that are `offline` or `failed` is measured; above
 * `breaker.share` the site is paused first. A paused site resumes by itself once the share has stayed
 * below the threshold for `breaker.window`; an operator may resume it earlier (through the registry).
 */

/** The site of proplets without a `propeller.io/site` label (shared with the scheduler through the contracts). */
export { UNLABELLED_SITE } from '@propeller/events';

/** Breaker settings (config `healthMonitor.breaker.*`). */
export interface BreakerConfig {
  /** Share of a site offline or failed above which its evacuation pauses (default 0.55). */
  share: number;
  /** How long the share must stay below `share` before evacuation resumes by itself, in ms (default 5 min). */
  windowMs: number;
}

/** A site's measurement, as `site.pauseEvacuation` carries it. */
export interface SiteMeasurement {
  site: string;
  share: number;
  threshold: number;
  offline: number;
  failed: number;
  total: number;
}

/** What the monitor tracks of one site's breaker. */
export interface SiteBreaker {
  /** As the registry recorded it (`SiteEvacuationPaused` / `SiteEvacuationResumed`), or as just asked. */
  paused: boolean;
  /** Since when (epoch ms) the share of a paused site has been below the threshold. */
  belowSince: number | undefined;
  /** A resume was asked and not yet recorded; not asked twice. */
  resuming: boolean;
}

/** One proplet as the breaker counts it. */
export interface CountedProplet {
  site: string;
  health: PropletHealth;
}

/** Counts the site's proplets (every one the judge knows is not deregistered) that are offline or failed. */
export function measureSite(site: string, proplets: Iterable<CountedProplet>, threshold: number): SiteMeasurement {
  let total = 0;
  let offline = 0;
  let failed = 0;
  for (const p of proplets) {
    if (p.site !== site) continue;
    total++;
    if (p.health === 'offline') offline++;
    else if (p.health === 'failed') failed++;
  }
  const share = total === 0 ? 0 : (offline + failed) / total;
  return { site, share, threshold, offline, failed, total };
}

/** The breaker trips for a site when its share is strictly above the threshold. */
export const tripsBreaker = (m: SiteMeasurement): boolean => m.share > m.threshold;

/**
 * The sites to pause before sending `failedSites`' failed verdicts: those not paused yet whose share
 * (with the verdicts counted) is above the threshold.
 */
export function sitesToPause(
  failedSites: Iterable<string>,
  proplets: readonly CountedProplet[],
  breakers: ReadonlyMap<string, SiteBreaker>,
  cfg: BreakerConfig,
): SiteMeasurement[] {
  const out: SiteMeasurement[] = [];
  for (const site of new Set(failedSites)) {
    if (breakers.get(site)?.paused) continue;
    const m = measureSite(site, proplets, cfg.share);
    if (tripsBreaker(m)) out.push(m);
  }
  return out;
}

/** What one look at the paused sites decides. */
export interface WindowStep {
  breakers: Map<string, SiteBreaker>;
  /** Sites to resume `by: breakerWindow`, with the share measured now. */
  resumes: Array<{ site: string; share: number }>;
  /** The earliest time (epoch ms) a window ends, if one is running. */
  nextDeadline: number | undefined;
}

/**
 * Looks at every paused site: a share below the threshold starts (or continues) its window, one at or
 * above it resets the window; a window that has lasted `windowMs` resumes the site.
 */
export function breakerWindowStep(
  breakers: ReadonlyMap<string, SiteBreaker>,
  proplets: readonly CountedProplet[],
  now: number,
  cfg: BreakerConfig,
): WindowStep {
  const out = new Map(breakers);
  const resumes: WindowStep['resumes'] = [];
  let nextDeadline: number | undefined;
  for (const [site, b] of breakers) {
    if (!b.paused || b.resuming) continue;
    const m = measureSite(site, proplets, cfg.share);
    if (m.share >= cfg.share) {
      out.set(site, { ...b, belowSince: undefined });
      continue;
    }
    const belowSince = b.belowSince ?? now;
    if (now - belowSince >= cfg.windowMs) {
      resumes.push({ site, share: m.share });
      out.set(site, { ...b, belowSince, resuming: true });
    } else {
      out.set(site, { ...b, belowSince });
      nextDeadline = Math.min(nextDeadline ?? Infinity, belowSince + cfg.windowMs);
    }
  }
  return { breakers: out, resumes, nextDeadline };
}
