import { z } from 'zod';
import { FencingTokenSchema, TimestampSchema, type TypedEvent } from './common';

/**
 * Events of the Site aggregate (subject `<p>.events.site.<site>`): the evacuation breaker of one
 * site (the value of the `propeller.io/site` label), written by the registry.
 */

/** Label that names a proplet's site. */
export const SITE_LABEL = 'propeller.io/site';

const count = z.number().int().nonnegative();
const share = z.number().min(0).max(1);

const siteEvacuationPausedShape = {
    site: z.string().min(1),
    /** (offline + failed) / total at the time of the decision. */
    share,
    /** `healthMonitor.breaker.share` in force (default 0.55). */
    threshold: share,
    offline: count,
    failed: count,
    /** Proplets of the site that are not deregistered. */
    total: count,
    /** Lease revision of the health judge that asked. */
    fencingToken: FencingTokenSchema.nullable(),
    pausedAt: TimestampSchema,
};
const countsAddUp = (d: { offline: number; failed: number; total: number }): boolean => d.offline + d.failed <= d.total;
const countsAddUpRule = { message: 'offline + failed must not exceed total', path: ['total'] };

/** Too large a share of the site is offline or failed: no task of the site is evacuated until resumed. */
export const SiteEvacuationPausedDataSchema = z.object(siteEvacuationPausedShape).refine(countsAddUp, countsAddUpRule);
/** `site.pauseEvacuation` data: the breaker's measurement (the time and fencing token come from the command's meta). */
export const PauseSiteEvacuationSchema = z
  .object(siteEvacuationPausedShape)
  .omit({ pausedAt: true, fencingToken: true })
  .refine(countsAddUp, countsAddUpRule);
export type SiteEvacuationPausedData = z.infer<typeof SiteEvacuationPausedDataSchema>;
export type SiteEvacuationPaused = TypedEvent<'SiteEvacuationPaused', SiteEvacuationPausedData>;

/** Evacuation goes on: an operator resumed it, or the share stayed below the threshold for `breaker.window`. */
export const SiteEvacuationResumedDataSchema = z.object({
  site: z.string().min(1),
  by: z.enum(['operator', 'breakerWindow']),
  /** The share when resumed, if the judge measured it. */
  share: share.optional(),
  resumedAt: TimestampSchema,
});
export type SiteEvacuationResumedData = z.infer<typeof SiteEvacuationResumedDataSchema>;
export type SiteEvacuationResumed = TypedEvent<'SiteEvacuationResumed', SiteEvacuationResumedData>;

/** Every Site event, discriminated on `type`. */
export type SiteEvent = SiteEvacuationPaused | SiteEvacuationResumed;

/** The site of proplets without a `propeller.io/site` label: together they form one site. */
export const UNLABELLED_SITE = 'unlabelled';

/** A proplet's site from its effective labels: the `propeller.io/site` value, or `UNLABELLED_SITE`. */
export function siteOfLabels(labels: Readonly<Record<string, string>>): string {
  const site = labels[SITE_LABEL];
  return site === undefined || site === '' ? UNLABELLED_SITE : site;
}
