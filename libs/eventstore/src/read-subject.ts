import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';

/** How long a read waits for the next message before it concludes the subject was purged under it. */
const STALL_MS = 5_000;

/**
 * Reads every message of one subject after `afterSeq`, in stream order, with an ordered consumer
 * (flow-controlled delivery instead of one request per message, so 1,000 events take one round).
 * It stops at the subject's last message as it was when the read began, and returns that sequence
 * (0 when the subject is empty).
 */
export async function readSubject(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  afterSeq: number,
  onMessage: (m: JsMsg) => void,
): Promise<number> {
  const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  if (!last || last.seq <= afterSeq) return last?.seq ?? 0;
  const oc = await js.consumers.get(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: afterSeq + 1,
  });
  const messages = await oc.consume({ max_messages: 512 });
  let seen = afterSeq;
  let stall = setTimeout(() => void messages.close(), STALL_MS);
  try {
    for await (const m of messages) {
      clearTimeout(stall);
      stall = setTimeout(() => void messages.close(), STALL_MS);
      seen = m.seq;
      onMessage(m);
      if (m.seq >= last.seq || m.info.pending === 0) break;
    }
  } finally {
    clearTimeout(stall);
    await messages.close().catch(() => undefined);
  }
  // Normally `last.seq`; less only when the subject was purged while we read it.
  return seen;
}
