import { errors as natsErrors, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { fromWireError, InternalError, toWireError, type NatsNames, type WireError } from '@propeller/events';

/**
 * Admin requests: work only the owner of a projection or a process manager can do. A projection is
 * rebuilt by the replica holding its lease (`ProjectionRunner.rebuild` refuses elsewhere), and a dead
 * letter is replayed through its consumer's own handler, which lives in the owning service. So the API
 * does not do either itself: it sends a core NATS request that the owning service answers.
 *
 * - `<p>.admin.projections.<name>.rebuild`, request `{}` → `{ok: true}` once the replay has started.
 * - `<p>.admin.dlq.<consumer>.replay`, request `{"dlqSeq": n}` → `{ok: true}` once the handler succeeded
 *   (the letter is then gone from the DLQ).
 *
 * Failures answer `{ok: false, error: WireError}` as command replies do. Every replica subscribes
 * without a queue group: only the lease holder of a projection can rebuild it, so the others stay
 * silent (they do not answer) and the request reaches the one that can.
 */

/** Subject of a rebuild request for one projection. */
export const rebuildSubject = (names: NatsNames, projection: string): string => `${names.prefix}.admin.projections.${projection}.rebuild`;
/** Subject of a replay request for one consumer's dead letters. */
export const replaySubject = (names: NatsNames, consumer: string): string => `${names.prefix}.admin.dlq.${consumer}.replay`;

/** An admin reply. */
export type AdminReply = { ok: true; [key: string]: unknown } | { ok: false; error: WireError };

const decoder = new TextDecoder();

/**
 * Sends an admin request and returns the ok reply, or throws the typed error it carried. When no
 * service answers, throws `Internal` with `details.reason: "noResponders"` and the subject, so the
 * operator knows which service must be running (and serving admin requests).
 */
export async function sendAdminRequest(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  } catch (e) {
    const noResponders = e instanceof natsErrors.NoRespondersError || (e instanceof natsErrors.RequestError && e.isNoResponders());
    const reason = noResponders ? 'noResponders' : e instanceof natsErrors.TimeoutError ? 'timeout' : 'failed';
    const why = noResponders ? 'no service answers (the owning service is not running, or does not serve admin requests)' : reason === 'timeout' ? 'no reply in time' : 'request failed';
    throw new InternalError(`${subject}: ${why}`, { cause: e, details: { subject, reason } });
  }
  const reply = JSON.parse(decoder.decode(msg.data)) as AdminReply;
  if (reply.ok) return reply;
  throw fromWireError(reply.error);
}

/** What a service offers to admin requests: its projection runner and its consumers' replays. */
export interface AdminTargets {
  /** Rebuilds a projection; throws `NotLeader` in a replica that does not hold its lease. */
  rebuild?: { names: readonly string[]; rebuild(name: string): Promise<void>; holdsLease?(name: string): boolean };
  /** Replays one dead letter of a consumer this service runs. */
  replay?: Record<string, (dlqSeq: number) => Promise<unknown>>;
}

/**
 * Answers admin requests for what `targets` owns (a reference responder for the owning services). A
 * replica that does not hold a projection's lease does not answer, so the lease holder's answer wins.
 * Returns a function that unsubscribes.
 */
export function serveAdminRequests(nc: NatsConnection, names: NatsNames, targets: AdminTargets): () => Promise<void> {
  const subs: Subscription[] = [];
  const respond = (msg: Msg, work: () => Promise<Record<string, unknown>>): void => {
    void work().then(
      (r) => msg.respond(JSON.stringify({ ok: true, ...r })),
      (e: unknown) => msg.respond(JSON.stringify({ ok: false, error: toWireError(e) })),
    );
  };
  for (const name of targets.rebuild?.names ?? []) {
    subs.push(
      nc.subscribe(rebuildSubject(names, name), {
        callback: (err, msg) => {
          if (err) return;
          if (targets.rebuild?.holdsLease !== undefined && !targets.rebuild.holdsLease(name)) return;
          respond(msg, async () => {
            await targets.rebuild?.rebuild(name);
            return { projection: name };
          });
        },
      }),
    );
  }
  for (const [consumer, replay] of Object.entries(targets.replay ?? {})) {
    subs.push(
      nc.subscribe(replaySubject(names, consumer), {
        queue: `${names.prefix}-admin-${consumer}`,
        callback: (err, msg) => {
          if (err) return;
          respond(msg, async () => {
            const { dlqSeq } = JSON.parse(decoder.decode(msg.data)) as { dlqSeq: number };
            await replay(dlqSeq);
            return { consumer, dlqSeq };
          });
        },
      }),
    );
  }
  return async () => {
    await Promise.all(subs.map((s) => s.drain()));
  };
}
