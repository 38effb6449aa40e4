import { NatsConnectionImpl, RequestOne, setTransportFactory } from '@nats-io/nats-core/internal';
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

/** The fields of nats.js's `RequestOne` that `resolver` uses (they are public in its typings but for `deferred`). */
interface RequestOneFields {
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  deferred: { resolve(msg: unknown): void };
  resolver(err: Error | null, msg: unknown): void;
}

let requestsPatched = false;

/**
 * Ends an answered request without building an error. nats.js's `RequestOne.resolver` resolves the
 * request's promise and then calls `cancel()`, which rejects that (already resolved) promise with a new
 * `RequestError("cancelled")`: an `Error` with a captured stack for every request and JetStream publish
 * that succeeded, thrown away at once. At thousands of requests a second that was ~4% of the
 * scheduler's and the gateway's CPU (issue 4's profile). A success now does what `resolver` and
 * `cancel` did minus the error: cancel the timer, forget the request, resolve. Failures (timeouts, no
 * responders, a closed connection) keep the library's path. Idempotent; `nats.int.spec.ts` checks the
 * library's shape, so an upgrade that changes it fails a test instead of silently losing the fix.
 */
export function patchRequestCleanup(): void {
  if (requestsPatched) return;
  requestsPatched = true;
  const proto = RequestOne.prototype as unknown as RequestOneFields;
  const original = proto.resolver;
  proto.resolver = function (this: RequestOneFields, err: Error | null, msg: unknown): void {
    if (err) {
      original.call(this, err, msg);
      return;
    }
    this.timer?.cancel();
    this.mux.cancel(this);
    this.deferred.resolve(msg);
  };
}

/** Connects a service to NATS with `natsConnectOptions` over the `CoalescingTransport` (and `patchRequestCleanup`). */
export function connectNats(url: string, name: string): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new CoalescingTransport(), dnsResolveFn: nodeResolveHost });
  patchRequestCleanup();
  return NatsConnectionImpl.connect(natsConnectOptions(url, name));
}
