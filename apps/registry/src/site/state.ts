import type { SiteEvacuationPausedData } from '@propeller/events';

/**
 * State of the Site aggregate (the evacuation breaker of one `propeller.io/site`), a discriminated
 * union on `status`: evacuation `allowed` (every site starts there), or `paused` with the
 * measurement that tripped the breaker.
 */
export type SiteState =
  | { status: 'allowed'; resumedAt: string | undefined }
  | { status: 'paused'; pause: Omit<SiteEvacuationPausedData, 'site'> };
