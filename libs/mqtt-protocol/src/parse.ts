import type { z } from 'zod';
import { formatValue } from '@propeller/events';
import {
  aliveSchema,
  createSchema,
  metricsSchema,
  registryChunkSchema,
  registryRequestSchema,
  resultsSchema,
  startSchema,
  stopSchema,
  taskMetricsSchema,
  taskStartedSchema,
  type AliveMessage,
  type CreateMessage,
  type MetricsMessage,
  type RegistryChunkMessage,
  type RegistryRequestMessage,
  type ResultsMessage,
  type StartMessage,
  type StopMessage,
  type TaskMetricsMessage,
  type TaskStartedMessage,
} from './messages';
import type { ParseResult, Rejection } from './result';
import { parseTopic, type ParsedTopic, type TopicKind } from './topics';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Largest payload accepted per kind, in bytes; a larger one is rejected as `too_large` before it is
 * parsed, so a hostile device cannot make the gateway parse megabytes of JSON.
 * Control messages: 64 KiB. results: 1 MiB (stdout may be long). start: 24 MiB (a 16 MiB module
 * in base64 plus the envelope). registry_chunk: 4 MiB (default chunks are 64 KiB).
 */
export const MAX_PAYLOAD_BYTES: Readonly<Record<TopicKind, number>> = {
  create: 64 * KiB,
  alive: 64 * KiB,
  start: 24 * MiB,
  stop: 64 * KiB,
  task_started: 64 * KiB,
  results: 1 * MiB,
  metrics: 64 * KiB,
  task_metrics: 64 * KiB,
  registry_request: 64 * KiB,
  registry_chunk: 4 * MiB,
};

/**
 * Deepest nesting accepted in a payload. Re-serialising deeper JSON (`JSON.stringify` in the
 * gateway, on its way to NATS) overflows the stack; no message of the protocol needs more than a few levels.
 */
export const MAX_JSON_DEPTH = 64;

/** The top-level key under which `root` nests deeper than `max`, or `null`. Iterative: deep input must not overflow here either. */
function tooDeep(root: Record<string, unknown>, max: number): string | null {
  const stack: [unknown, number, string][] = Object.entries(root).map(([k, v]) => [v, 2, k]);
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth, top] = item;
    if (value === null || typeof value !== 'object') continue;
    if (depth > max) return top;
    for (const child of Object.values(value)) stack.push([child, depth + 1, top]);
  }
  return null;
}

/** The parsed message type of each kind. */
export interface MessageOfKind {
  create: CreateMessage;
  alive: AliveMessage;
  start: StartMessage;
  stop: StopMessage;
  task_started: TaskStartedMessage;
  results: ResultsMessage;
  metrics: MetricsMessage;
  task_metrics: TaskMetricsMessage;
  registry_request: RegistryRequestMessage;
  registry_chunk: RegistryChunkMessage;
}

const SCHEMAS: { readonly [K in TopicKind]: z.ZodType<MessageOfKind[K]> } = {
  create: createSchema,
  alive: aliveSchema,
  start: startSchema,
  stop: stopSchema,
  task_started: taskStartedSchema,
  results: resultsSchema,
  metrics: metricsSchema,
  task_metrics: taskMetricsSchema,
  registry_request: registryRequestSchema,
  registry_chunk: registryChunkSchema,
};

/** A payload as it comes off MQTT (Buffer, Uint8Array) or as text; an already-decoded object is accepted too. */
export type Payload = string | Uint8Array | Record<string, unknown>;

const decoder = new TextDecoder('utf-8');

function reject(reason: Rejection['reason'], message: string, field?: string): Rejection {
  return field === undefined ? { ok: false, reason, message } : { ok: false, reason, field, message };
}

/**
 * `formatValue` of @propeller/events, made total: for JSON nested deeply enough, both
 * `JSON.stringify` and `String()` overflow the stack, and a device must not crash the gateway.
 */
function describe(value: unknown): string {
  try {
    return formatValue(value);
  } catch {
    return `a deeply nested ${Array.isArray(value) ? 'array' : typeof value}`;
  }
}

const PLAIN_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `metadata.tags[1]`; keys that are not plain names are quoted: `propeller.labels["propeller.io/site"]`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (PLAIN_KEY_RE.test(String(p))) out += out === '' ? String(p) : `.${String(p)}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * Parses and validates one payload of a kind. Never throws: returns the normalised message or a
 * typed rejection. Order of checks: size (`too_large`), JSON (`not_json`), object (`not_object`),
 * then the schema's first issue — `missing_field` when the field is absent or `null`,
 * `invalid_field` otherwise, with the field's path, its value and what was expected.
 */
export function parseMessage<K extends TopicKind>(kind: K, payload: Payload): ParseResult<MessageOfKind[K]> {
  let raw: unknown;
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.byteLength;
    const limit = MAX_PAYLOAD_BYTES[kind];
    if (size > limit) return reject('too_large', `${kind} payload is ${size} bytes, over the limit of ${limit} bytes`);
    const text = typeof payload === 'string' ? payload : decoder.decode(payload);
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return reject('not_json', `${kind} payload is not JSON (${e instanceof Error ? e.message : String(e)}): ${describe(text)}`);
    }
  } else {
    raw = payload;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const got = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw;
    return reject('not_object', `${kind} payload must be a JSON object (got ${got}: ${describe(raw)})`);
  }
  const deep = tooDeep(raw as Record<string, unknown>, MAX_JSON_DEPTH);
  if (deep !== null) return reject('invalid_field', `${kind}: ${deep} is nested deeper than ${MAX_JSON_DEPTH} levels`, deep);
  const schema = SCHEMAS[kind] as z.ZodType<MessageOfKind[K]>;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path ?? [];
  const field = fieldPath(path);
  const value = valueAt(raw, path);
  const expected = issue?.message ?? 'invalid';
  if (issue?.code === 'invalid_key') {
    // A bad key of a map (labels): name the key, not its value.
    const keyRule = issue.issues[0]?.message ?? 'invalid key';
    return reject('invalid_field', `${kind}: ${field} ${keyRule}, got key ${describe(String(path[path.length - 1] ?? ''))}`, field);
  }
  if (value === undefined || value === null) {
    return reject('missing_field', `${kind}: ${field} is missing (${expected})`, field);
  }
  return reject('invalid_field', `${kind}: ${field} ${expected}, got ${describe(value)}`, field);
}

/** Parses a create payload. */
export const parseCreate = (payload: Payload): ParseResult<CreateMessage> => parseMessage('create', payload);
/** Parses an alive payload (heartbeat or last-will). */
export const parseAlive = (payload: Payload): ParseResult<AliveMessage> => parseMessage('alive', payload);
/** Parses a start payload (either dialect). */
export const parseStart = (payload: Payload): ParseResult<StartMessage> => parseMessage('start', payload);
/** Parses a stop payload (either dialect). */
export const parseStop = (payload: Payload): ParseResult<StopMessage> => parseMessage('stop', payload);
/** Parses a task_started payload. */
export const parseTaskStarted = (payload: Payload): ParseResult<TaskStartedMessage> => parseMessage('task_started', payload);
/** Parses a results payload. */
export const parseResults = (payload: Payload): ParseResult<ResultsMessage> => parseMessage('results', payload);
/** Parses a metrics payload. */
export const parseMetrics = (payload: Payload): ParseResult<MetricsMessage> => parseMessage('metrics', payload);
/** Parses a task_metrics payload. */
export const parseTaskMetrics = (payload: Payload): ParseResult<TaskMetricsMessage> => parseMessage('task_metrics', payload);
/** Parses a registry request (`registry/proplet`). */
export const parseRegistryRequest = (payload: Payload): ParseResult<RegistryRequestMessage> => parseMessage('registry_request', payload);
/** Parses a registry chunk (`registry/server`). */
export const parseRegistryChunk = (payload: Payload): ParseResult<RegistryChunkMessage> => parseMessage('registry_chunk', payload);

/** A parsed message with its kind, so that a `switch (m.kind)` narrows `m.value`. */
export type InboundMessage = { [K in TopicKind]: { kind: K; value: MessageOfKind[K] } }[TopicKind];

/** What `parseInbound` returns for a topic of ours: where it came from and the parse outcome. */
export interface Inbound {
  topic: ParsedTopic;
  message: ParseResult<InboundMessage>;
}

/**
 * Topic and payload in one step, for the gateway and proplets: `null` when the topic is not ours,
 * else the parsed topic and the message (or its rejection, to count by `topic.kind` and `reason`).
 */
export function parseInbound(topic: string, payload: Payload): Inbound | null {
  const parsed = parseTopic(topic);
  if (parsed === null) return null;
  const result = parseMessage(parsed.kind, payload);
  return { topic: parsed, message: result.ok ? { ok: true, value: { kind: parsed.kind, value: result.value } as InboundMessage } : result };
}
