import type { Dialect, Layout } from '@propeller/mqtt-protocol';

/**
 * Where and how the plane reaches one proplet, as this replica knows it. The tasks issue dispatches
 * starts and stops from it (topic layout, per-proplet topics, dialect of the start's shape).
 */
export interface DirectoryEntry {
  propletId: string;
  domainId: string;
  channelId: string;
  layout: Layout;
  perPropletTopics: boolean;
  dialect: Dialect;
  /** A deregistered proplet stays out until it sends `create` again; its heartbeats register nothing. */
  deregistered: boolean;
  /** Stream sequence of the registry's event this entry reflects: an older report never overwrites a newer one. */
  seq: number;
}

/** What the directory says about an id when a message arrives. */
export type DirectoryStatus = 'known' | 'deregistered' | 'registering' | 'unknown';

/** The subset of a proplet event the directory reads (the envelope's `type`, `aggregateId`, `data`). */
export interface PropletEventLike {
  type: string;
  aggregateId: string;
  data: unknown;
  /** The event's stream sequence. */
  seq: number;
}

interface ChannelLike {
  domainId: string;
  channelId: string;
  layout: Layout;
  perPropletTopics: boolean;
}

/**
 * The gateway's directory of proplets: fed by the replies to its own `proplet.register` commands
 * (immediately, in this replica) and by the proplet events (every replica, through an ordered
 * consumer), so every replica ends up knowing every proplet. Pure and synchronous.
 *
 * Only what the registry stored enters it, newest first wins: a registration the registry turned into
 * no event (a heartbeat registration that came after the device's own `create`) changes nothing here,
 * and a reply or an event older than what an entry reflects is ignored. (A heartbeat registration
 * carries guessed defaults: applying it over a device's `create` sent the device's starts to the
 * shared upstream topic, where it was not listening.)
 */
export class PropletDirectory {
  readonly #entries = new Map<string, DirectoryEntry>();
  readonly #registering = new Set<string>();

  /** Number of proplets known (deregistered ones included). */
  get size(): number {
    return this.#entries.size;
  }

  get(propletId: string): DirectoryEntry | undefined {
    return this.#entries.get(propletId);
  }

  status(propletId: string): DirectoryStatus {
    const e = this.#entries.get(propletId);
    if (e !== undefined) return e.deregistered ? 'deregistered' : 'known';
    return this.#registering.has(propletId) ? 'registering' : 'unknown';
  }

  /** A heartbeat-registration was sent for an unknown id: further beats do not send another until it settles. */
  markRegistering(propletId: string): void {
    this.#registering.add(propletId);
  }

  /** The registration sent for `propletId` failed: the next beat may try again. */
  registrationFailed(propletId: string): void {
    this.#registering.delete(propletId);
  }

  /**
   * The registry recorded a registration this replica sent, as the event at stream sequence `seq`
   * (the reply's `lastSequence`): the entry takes it unless it already reflects a later event.
   */
  registered(propletId: string, channel: ChannelLike, dialect: Dialect, seq: number): void {
    this.#registering.delete(propletId);
    const e = this.#entries.get(propletId);
    if (e !== undefined && e.seq >= seq) return;
    this.#entries.set(propletId, { propletId, ...pickChannel(channel), dialect, deregistered: false, seq });
  }

  /** The registry answered a registration with no event (it knew the proplet already): nothing to learn from it. */
  registrationSettled(propletId: string): void {
    this.#registering.delete(propletId);
  }

  /** Applies one proplet event; other types (labels, cordon, health) do not change where a proplet is reached. */
  apply(event: PropletEventLike): void {
    const id = event.aggregateId;
    const data = (event.data ?? {}) as { channel?: ChannelLike; dialect?: Dialect };
    const seq = event.seq;
    switch (event.type) {
      case 'PropletRegistered':
        if (data.channel !== undefined && data.dialect !== undefined) this.registered(id, data.channel, data.dialect, seq);
        return;
      case 'PropletUpdated': {
        const e = this.#entries.get(id);
        if (e === undefined || e.seq >= seq) return;
        this.#entries.set(id, { ...e, ...(data.channel ? pickChannel(data.channel) : {}), ...(data.dialect ? { dialect: data.dialect } : {}), seq });
        return;
      }
      case 'PropletDeregistered': {
        const e = this.#entries.get(id);
        if (e !== undefined && e.seq < seq) this.#entries.set(id, { ...e, deregistered: true, seq });
        return;
      }
      default:
        return;
    }
  }
}

function pickChannel(c: ChannelLike): Pick<DirectoryEntry, 'domainId' | 'channelId' | 'layout' | 'perPropletTopics'> {
  return { domainId: c.domainId, channelId: c.channelId, layout: c.layout, perPropletTopics: c.perPropletTopics };
}
