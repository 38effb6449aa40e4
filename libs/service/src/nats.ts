import { NatsConnectionImpl, setTransportFactory } from '@nats-io/nats-core/internal';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
// The Node transport itself is not re-exported by the package index; the path is stable in 3.x.
import { NodeTransport, nodeResolveHost } from '@nats-io/transport-node/lib/node_transport';

/**
 * The NATS connection options every service uses: the comma-separated `nats.url` as the server list,
 * the process name shown by the server, endless reconnects, and no async stack traces. nats.js builds
 * an `Error` (with a captured stack) for every request and JetStream publish when async traces are on,
 * to report where a timed-out request was sent from; at thousands of requests a second that was
 * about 7% of the scheduler's and the gateway's CPU (issue 4's profile). Errors still name the subject.
 */
export function natsConnectOptions(url: string, name: string): ConnectionOptions {
  return {
    servers: url.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    name,
    maxReconnectAttempts: -1,
    noAsyncTraces: true,
  };
}

/**
 * The Node transport with one socket write per turn of the event loop. nats.js flushes its outbound
 * buffer after every microtask checkpoint, so a service handling a message at a time writes once per
 * message: under load that was the largest single cost of the scheduler and the gateway (`writeBuffer`,
 * each write also waking the NATS server). Frames sent in one turn are joined and written in
 * `setImmediate`, after the I/O callbacks of that turn; their order is kept.
 */
export class CoalescingTransport extends NodeTransport {
  #frames: Uint8Array[] = [];
  #scheduled = false;

  override send(frame: Uint8Array): void {
    this.#frames.push(frame);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Writes what is still held before the socket ends, so a publish right before `close()` is not lost. */
  override close(err?: Error): Promise<void> {
    this.#flush();
    return super.close(err);
  }

  #flush(): void {
    this.#scheduled = false;
    const frames = this.#frames;
    if (frames.length === 0) return;
    this.#frames = [];
    super.send(frames.length === 1 ? (frames[0] as Uint8Array) : Buffer.concat(frames));
  }
}

/** Connects a service to NATS with `natsConnectOptions` over the `CoalescingTransport`. */
export function connectNats(url: string, name: string): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new CoalescingTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(natsConnectOptions(url, name));
}
