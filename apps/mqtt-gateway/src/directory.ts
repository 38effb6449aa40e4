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
}

/** What the directory says about an id when a message arrives. */
export type DirectoryStatus = 'known' | 'deregistered' | 'registering' | 'unknown';

/** The subset of a proplet event the directory reads (the envelope's `type`, `aggregateId`, `data`). */
export interface PropletEventLike {
  type: string;
  aggregateId: string;
  data: unknown;
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

  /** The registry accepted a registration this replica sent. */
  registered(propletId: string, channel: ChannelLike, dialect: Dialect): void {
    this.#registering.delete(propletId);
    this.#entries.set(propletId, { propletId, ...pickChannel(channel), dialect, deregistered: false });
  }

  /** Applies one proplet event; other types (labels, cordon, health) do not change where a proplet is reached. */
  apply(event: PropletEventLike): void {
    const id = event.aggregateId;
    const data = (event.data ?? {}) as { channel?: ChannelLike; dialect?: Dialect };
    switch (event.type) {
      case 'PropletRegistered':
        if (data.channel !== undefined && data.dialect !== undefined) this.registered(id, data.channel, data.dialect);
        return;
      case 'PropletUpdated': {
        const e = this.#entries.get(id);
        if (e === undefined) return;
        this.#entries.set(id, { ...e, ...(data.channel ? pickChannel(data.channel) : {}), ...(data.dialect ? { dialect: data.dialect } : {}) });
        return;
      }
      case 'PropletDeregistered': {
        const e = this.#entries.get(id);
        if (e !== undefined) this.#entries.set(id, { ...e, deregistered: true });
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
