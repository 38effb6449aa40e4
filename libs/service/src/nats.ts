import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';

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

/** Connects a service to NATS with `natsConnectOptions`. */
export function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect(natsConnectOptions(url, name));
}
