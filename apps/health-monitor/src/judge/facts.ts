import { siteOfLabels, type Labels, type PropletEvent } from '@propeller/events';
import type { PropletFact } from './judge';

/** The labels of one proplet as its events set them: the device's, and the operator's overrides over them. */
export interface PropletLabels {
  reported: Labels;
  overrides: Labels | undefined;
}

/** A proplet's site: its effective `propeller.io/site` label, or `UNLABELLED_SITE`. */
export function siteOf(l: PropletLabels): string {
  const effective = l.overrides === undefined ? l.reported : { ...l.reported, ...l.overrides };
  return siteOfLabels(effective);
}

/**
 * What one proplet event tells the judge (the same folding as the registry's decider, limited to
 * what the judge needs: type, site, recorded health, existence). Returns the labels after the event
 * and the fact, or no fact when the event changes nothing the judge uses.
 */
export function factOf(prev: PropletLabels | undefined, event: PropletEvent): { labels: PropletLabels | undefined; fact: PropletFact | undefined } {
  switch (event.type) {
    case 'PropletRegistered': {
      const labels = { reported: event.data.labels, overrides: undefined };
      return { labels, fact: { kind: 'registered', type: event.data.type, site: siteOf(labels), health: 'unknown' } };
    }
    case 'PropletUpdated': {
      if (prev === undefined || event.data.labels === undefined) return { labels: prev, fact: undefined };
      const labels = { ...prev, reported: event.data.labels };
      return { labels, fact: { kind: 'site', site: siteOf(labels) } };
    }
    case 'PropletLabelled': {
      if (prev === undefined || event.data.labels === undefined) return { labels: prev, fact: undefined };
      const labels = { ...prev, overrides: event.data.labels ?? undefined };
      return { labels, fact: { kind: 'site', site: siteOf(labels) } };
    }
    case 'PropletHealthChanged':
      if (event.data.to === 'deregistered') return { labels: undefined, fact: { kind: 'deregistered' } };
      return { labels: prev, fact: { kind: 'healthRecorded', health: event.data.to } };
    case 'PropletDeregistered':
      return { labels: undefined, fact: { kind: 'deregistered' } };
    case 'PropletCordoned':
    case 'PropletUncordoned':
      return { labels: prev, fact: undefined };
    default: {
      const never: never = event;
      return never;
    }
  }
}
