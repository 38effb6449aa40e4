import { createHash } from 'node:crypto';
import type { CommandDataInput, InboxKind, PropletLiveness } from '@propeller/events';
import {
  deriveRegistration,
  metricsTimeMs,
  type Inbound,
  type ParsedTopic,
  type RejectionReason,
  type TopicKind,
} from '@propeller/mqtt-protocol';
import type { DirectoryStatus } from './directory';

/** Why a message was dropped: a protocol rejection, a topic that is not ours, or NATS/registry trouble after retries. */
export type DropReason = RejectionReason | 'unknown_topic' | 'nats_error' | 'refused';

/** Longest payload excerpt carried by an error event, in characters. */
export const MAX_EXCERPT_CHARS = 256;

/** What one device message makes the gateway do. Pure data, so routing is tested without MQTT or NATS. */
export type Action =
  | { type: 'reject'; kind: TopicKind | 'unknown'; reason: DropReason; field?: string; message: string; topic: string; excerpt: string }
  | { type: 'register'; data: CommandDataInput<'proplet.register'> }
  | { type: 'liveness'; propletId: string; value: PropletLiveness }
  | { type: 'metrics'; scope: 'proplet' | 'task'; id: string; record: MetricsRecord }
  | { type: 'inbox'; kind: InboxKind; id: string; msgId: string; record: InboxRecord };

/** What goes to the metrics store (latest in KV, history in the metrics stream). */
export interface MetricsRecord {
  kind: 'metrics' | 'task_metrics';
  propletId: string;
  taskId?: string;
  /** Wall-clock time of the sample (the device's timestamp, or the receive time for uptime/absent). */
  at: string;
  receivedAt: string;
  /** The parsed message as the device sent it (snake_case). */
  message: unknown;
}

/** A device message kept in the inbox stream until the tasks issue consumes it. */
export interface InboxRecord {
  kind: InboxKind;
  domainId: string;
  channelId: string;
  layout: ParsedTopic['layout'];
  receivedAt: string;
  /** The parsed message (snake_case, as on the wire). */
  message: unknown;
}

/** Inputs of `route` besides the message: the clock, this replica, and what the directory knows. */
export interface RouteContext {
  now: Date;
  writer: string;
  directory: (propletId: string) => DirectoryStatus;
}

/** A bounded, printable excerpt of a payload for logs and error events. */
export function excerpt(payload: Uint8Array | string): string {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, Math.min(payload.byteLength, MAX_EXCERPT_CHARS * 4)).toString('utf8');
  return text.length > MAX_EXCERPT_CHARS ? `${text.slice(0, MAX_EXCERPT_CHARS)}…` : text;
}

/** JetStream message id of an inbox entry: the same topic and bytes (an MQTT redelivery) are stored once. */
export function inboxMsgId(topic: string, payload: Uint8Array | string): string {
  return createHash('sha256').update(topic).update('\n').update(payload).digest('hex');
}

/**
 * Decides what one device message means (PROTOCOL.md "Messages"): a registration, a liveness write,
 * a metrics sample, an inbox entry, or a rejection. `inbound` is `parseInbound(topic, payload)`.
 */
export function route(topic: string, payload: Uint8Array | string, inbound: Inbound | null, ctx: RouteContext): Action[] {
  if (inbound === null) {
    return [{ type: 'reject', kind: 'unknown', reason: 'unknown_topic', message: `topic ${topic} is not a device topic of the protocol`, topic, excerpt: excerpt(payload) }];
  }
  const t = inbound.topic;
  const m = inbound.message;
  if (!m.ok) {
    return [
      { type: 'reject', kind: t.kind, reason: m.reason, ...(m.field === undefined ? {} : { field: m.field }), message: m.message, topic, excerpt: excerpt(payload) },
    ];
  }
  const at = ctx.now.toISOString();
  const where = { domainId: t.domainId, channel: t.channelId, layout: t.layout };
  const msg = m.value;
  switch (msg.kind) {
    case 'create':
      return [{ type: 'register', data: { ...deriveRegistration(msg.value, where), origin: 'create' } }];
    case 'alive': {
      const a = msg.value;
      const offline = a.status === 'offline';
      const load = a.load && {
        ...(a.load.running_tasks === undefined ? {} : { runningTasks: a.load.running_tasks }),
        ...(a.load.cpu_percent === undefined ? {} : { cpuPercent: Math.max(0, a.load.cpu_percent) }),
        ...(a.load.memory_bytes === undefined ? {} : { memoryBytes: a.load.memory_bytes }),
      };
      const liveness: Action = {
        type: 'liveness',
        propletId: a.proplet_id,
        value: { status: a.status, at, source: offline ? 'lastWill' : 'heartbeat', ...(load ? { load } : {}), writer: ctx.writer },
      };
      // A heartbeat from a proplet nobody registered registers it from what the topic and message say; a
      // last-will from an unknown id changes nothing (there is nobody to judge); a deregistered proplet stays
      // out until it sends create (its liveness is still written: the health monitor ignores deregistered ids).
      const status = ctx.directory(a.proplet_id);
      if (offline) return status === 'unknown' ? [] : [liveness];
      if (status !== 'unknown') return [liveness];
      const create = { proplet_id: a.proplet_id, ...(a.namespace === undefined ? {} : { namespace: a.namespace }) };
      return [{ type: 'register', data: { ...deriveRegistration(create, where), origin: 'heartbeat' } }, liveness];
    }
    case 'metrics': {
      const v = msg.value;
      const sampleAt = new Date(metricsTimeMs(v.timestamp, ctx.now.getTime())).toISOString();
      return [{ type: 'metrics', scope: 'proplet', id: v.proplet_id, record: { kind: 'metrics', propletId: v.proplet_id, at: sampleAt, receivedAt: at, message: v } }];
    }
    case 'task_metrics': {
      const v = msg.value;
      const sampleAt = new Date(metricsTimeMs(v.timestamp, ctx.now.getTime())).toISOString();
      return [
        { type: 'metrics', scope: 'task', id: v.task_id, record: { kind: 'task_metrics', propletId: v.proplet_id, taskId: v.task_id, at: sampleAt, receivedAt: at, message: v } },
      ];
    }
    case 'results':
    case 'task_started':
    case 'registry_request': {
      // Results and task_started are keyed by their wire id (one subject per attempt); a registry request names no
      // proplet, so it is keyed by its channel (where the module must be answered).
      const id = msg.kind === 'registry_request' ? t.channelId : msg.value.task_id;
      const record: InboxRecord = { kind: msg.kind, domainId: t.domainId, channelId: t.channelId, layout: t.layout, receivedAt: at, message: msg.value };
      return [{ type: 'inbox', kind: msg.kind, id, msgId: inboxMsgId(topic, payload), record }];
    }
    case 'start':
    case 'stop':
    case 'registry_chunk':
      // The plane's own kinds are not subscribed to; seeing one means a device publishes where it should not.
      return [{ type: 'reject', kind: msg.kind, reason: 'unknown_topic', message: `${msg.kind} is published by the plane, not by devices`, topic, excerpt: excerpt(payload) }];
    default: {
      const never: never = msg;
      return never;
    }
  }
}
