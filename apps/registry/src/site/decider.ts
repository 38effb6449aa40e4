import { InvalidError, type SiteCommand, type SiteEvent } from '@propeller/events';
import type { SiteState } from './state';

/**
 * The Site aggregate as a decider (STYLE.md rule 5): the evacuation breaker of one site. Pure; the
 * clock arrives in `meta.issuedAt` and the health judge's fencing token is checked by the handler
 * before `decide`. Pausing a paused site or resuming a running one decides nothing (idempotent).
 */
export const siteDecider = {
  initialState: (): SiteState => ({ status: 'allowed', resumedAt: undefined }),
  decide,
  evolve,
};

function decide(command: SiteCommand, state: SiteState): SiteEvent[] {
  const at = command.meta.issuedAt;
  switch (command.name) {
    case 'site.pauseEvacuation': {
      if (state.status === 'paused') return [];
      return [{ type: 'SiteEvacuationPaused', data: { ...command.data, fencingToken: command.meta.fencingToken ?? null, pausedAt: at } }];
    }
    case 'site.resumeEvacuation': {
      if (state.status !== 'paused') return [];
      return [{ type: 'SiteEvacuationResumed', data: { ...command.data, resumedAt: at } }];
    }
    default: {
      const never: never = command;
      throw InvalidError.field('command', (never as { name: string }).name, 'is not a site command');
    }
  }
}

function evolve(_state: SiteState, event: SiteEvent): SiteState {
  switch (event.type) {
    case 'SiteEvacuationPaused': {
      const { site: _site, ...pause } = event.data;
      return { status: 'paused', pause };
    }
    case 'SiteEvacuationResumed':
      return { status: 'allowed', resumedAt: event.data.resumedAt };
    default: {
      const never: never = event;
      return never;
    }
  }
}
