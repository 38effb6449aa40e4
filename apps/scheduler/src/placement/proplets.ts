import { siteOfLabels, type Channel, type Dialect, type Labels, type PropletEvent, type PropletHealth, type PropletType, type Resources } from '@propeller/events';
import { channelKey, Fleet, toCandidate, type Candidate } from '@propeller/scheduling';

/** What the scheduler knows of one registered proplet, folded from its events. */
export interface KnownProplet {
  id: string;
  type: PropletType;
  deviceType: string;
  capabilities: string[];
  labels: Labels;
  capacity: Resources;
  maxTasks: number | undefined;
  dialect: Dialect;
  channel: Channel;
  cordoned: boolean;
  health: PropletHealth;
  /** Operator overrides (`PropletLabelled`) win over what the device reports. */
  overrides: { labels?: Labels; capacity?: Resources; deviceType?: string; capabilities?: string[] };
  /** When a WAMR device was last heard (epoch ms, from the liveness KV), for the shared-channel rule. */
  lastHeardAt?: number;
}

/** What a proplet event changed, for the placement loop. */
export type PropletChange =
  | { kind: 'none' }
  /** It may now take tasks it could not take before (joined, recovered, changed, uncordoned). */
  | { kind: 'mayTakeMore'; propletId: string }
  /** It failed or left: its tasks may have to move. */
  | { kind: 'lost'; propletId: string; reason: string };

/**
 * The scheduler's own index of proplets, folded from the proplet events (never from the registry's
 * tables). Keeps one `Candidate` per proplet in a `Fleet` (`@propeller/scheduling`) for `place`: a
 * proplet that changes (an event, a WAMR heartbeat) is replaced in its slot, one that joins is
 * appended, one that leaves is swapped out, and the fleet's placement index follows each change in
 * place instead of being rebuilt at the next decision.
 */
export class PropletDirectory {
  private readonly proplets = new Map<string, KnownProplet>();
  private readonly candidates = new Fleet();

  /** Folds one proplet event; returns what it means for placement. */
  apply(propletId: string, event: PropletEvent): PropletChange {
    const p = this.proplets.get(propletId);
    switch (event.type) {
      case 'PropletRegistered': {
        const d = event.data;
        this.put({
          id: propletId,
          type: d.type,
          deviceType: d.deviceType,
          capabilities: d.capabilities,
          labels: d.labels,
          capacity: d.capacity,
          maxTasks: d.maxTasks,
          dialect: d.dialect,
          channel: d.channel,
          cordoned: false,
          health: 'unknown',
          overrides: {},
          ...(p?.lastHeardAt === undefined ? {} : { lastHeardAt: p.lastHeardAt }),
        });
        return { kind: 'none' };
      }
      case 'PropletUpdated': {
        if (!p) return { kind: 'none' };
        const { updatedAt: _at, maxTasks, ...rest } = event.data;
        const defined = Object.fromEntries(Object.entries(rest).filter(([k, v]) => v !== undefined && k in p));
        this.put({ ...p, ...defined, maxTasks: maxTasks === undefined ? p.maxTasks : (maxTasks ?? undefined) } as KnownProplet);
        return { kind: 'mayTakeMore', propletId };
      }
      case 'PropletLabelled': {
        if (!p) return { kind: 'none' };
        const o = { ...p.overrides };
        const d = event.data;
        if (d.labels !== undefined) o.labels = d.labels ?? undefined;
        if (d.capacity !== undefined) o.capacity = d.capacity ?? undefined;
        if (d.deviceType !== undefined) o.deviceType = d.deviceType ?? undefined;
        if (d.capabilities !== undefined) o.capabilities = d.capabilities ?? undefined;
        this.put({ ...p, overrides: o });
        return { kind: 'mayTakeMore', propletId };
      }
      case 'PropletCordoned':
        if (p) this.put({ ...p, cordoned: true });
        return { kind: 'none' };
      case 'PropletUncordoned':
        if (!p) return { kind: 'none' };
        this.put({ ...p, cordoned: false });
        return { kind: 'mayTakeMore', propletId };
      case 'PropletHealthChanged': {
        if (!p) return { kind: 'none' };
        this.put({ ...p, health: event.data.to });
        if (event.data.to === 'healthy') return { kind: 'mayTakeMore', propletId };
        if (event.data.to === 'failed') return { kind: 'lost', propletId, reason: `proplet ${propletId} failed: ${event.data.reason}` };
        return { kind: 'none' };
      }
      case 'PropletDeregistered':
        if (!p) return { kind: 'none' };
        this.proplets.delete(propletId);
        this.candidates.remove(propletId);
        return { kind: 'lost', propletId, reason: `proplet ${propletId} was deregistered: ${event.data.reason}` };
      default: {
        const never: never = event;
        return never;
      }
    }
  }

  /**
   * A heartbeat from the liveness KV. Only WAMR devices keep it (the shared-channel rule is about
   * them), so a heartbeating wasmtime proplet changes nothing; a WAMR device's candidate is copied
   * with the new time (nothing to parse again) into its slot of the fleet.
   */
  heard(propletId: string, atMs: number): void {
    const p = this.proplets.get(propletId);
    if (p === undefined || p.dialect !== 'wamr' || (p.lastHeardAt !== undefined && p.lastHeardAt >= atMs)) return;
    this.proplets.set(propletId, { ...p, lastHeardAt: atMs });
    const c = this.candidates.get(propletId);
    if (c !== undefined) this.candidates.upsert({ ...c, lastHeardAt: atMs });
  }

  get(propletId: string): KnownProplet | undefined {
    return this.proplets.get(propletId);
  }

  candidate(propletId: string): Candidate | undefined {
    return this.candidates.get(propletId);
  }

  /**
   * Every known proplet, as the fleet `place` takes (`place(task, directory.fleet(), …)`): its
   * placement index follows each change in place.
   */
  fleet(): Fleet {
    return this.candidates;
  }

  /** The WAMR devices on the channel of WAMR device `propletId` (for `matchProplet`'s `channelPeers`), without a pass over every proplet. */
  channelPeers(propletId: string): readonly Candidate[] {
    return this.candidates.channelPeers(propletId);
  }

  /**
   * Every known proplet as a candidate: the fleet's live array (`Fleet.candidates`), the same array
   * for the directory's life, changed in place as proplets change (copy it to keep a snapshot). Given
   * to `place`, it is the fleet (its index is the fleet's).
   */
  all(): readonly Candidate[] {
    return this.candidates.candidates;
  }

  /**
   * The site of a proplet (label `propeller.io/site`; proplets without one form the site
   * `unlabelled`, as the health monitor's breaker counts them), or `undefined` for an unknown proplet.
   */
  siteOf(propletId: string): string | undefined {
    const p = this.proplets.get(propletId);
    return p === undefined ? undefined : siteOfLabels(effectiveLabels(p));
  }

  /** Proplets of a site with the given health. */
  withHealth(health: PropletHealth, site?: string): string[] {
    return [...this.proplets.values()].filter((p) => p.health === health && (site === undefined || siteOfLabels(effectiveLabels(p)) === site)).map((p) => p.id);
  }

  private put(p: KnownProplet): void {
    this.proplets.set(p.id, p);
    this.candidates.upsert(
      toCandidate({
        id: p.id,
        type: p.type,
        deviceType: p.overrides.deviceType ?? p.deviceType,
        capabilities: p.overrides.capabilities ?? p.capabilities,
        labels: effectiveLabels(p),
        capacity: p.overrides.capacity ?? p.capacity,
        health: p.health,
        cordoned: p.cordoned,
        dialect: p.dialect,
        channel: channelKey(p.channel),
        ...(p.maxTasks === undefined ? {} : { maxTasks: p.maxTasks }),
        ...(p.lastHeardAt === undefined ? {} : { lastHeardAt: p.lastHeardAt }),
      }),
    );
  }
}

const effectiveLabels = (p: KnownProplet): Labels => (p.overrides.labels === undefined ? p.labels : { ...p.labels, ...p.overrides.labels });
