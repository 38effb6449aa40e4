import { formatValue, isInvalid } from '@propeller/events';
import type { Dialect } from './derive';
import { topicsFor, type ChannelRef } from './topics';
import { wireIdFor } from './wire-ids';

/**
 * Shaping of start and stop messages per dialect (PROTOCOL.md "start", "stop").
 * Pure: returns the topic and the exact bytes to publish, or a typed refusal. Never throws for data.
 */

/** Largest whole start message, in UTF-8 bytes, the ESP32 firmware accepts (its MQTT buffer is 1,024 bytes with the NUL). */
export const WAMR_MAX_START_BYTES = 1023;
/** Most inputs a WAMR start may carry. */
export const WAMR_MAX_INPUTS = 16;
/** The export the ESP32 firmware always calls. */
export const WAMR_ENTRY = 'main';
/** `state` of every start: upstream's numeric `created/pending` (0). */
export const START_STATE = 0;
/** `state` string of a WAMR stop (the firmware only checks that `name` and `state` are strings). */
export const WAMR_STOP_STATE = 'stopped';

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/** The task side of a start: what to run. */
export interface StartTask {
  /** Task id (the aggregate id); the wire id is derived from it and the attempt. */
  id: string;
  /** Export to call (wasmtime); WAMR always calls `main`. */
  name: string;
  /** Inputs; strings for wasmtime, integers (or integer strings) for WAMR. Default `[]`. */
  inputs?: readonly (string | number)[];
  /** CLI arguments (wasmtime). Default `[]`. */
  cliArgs?: readonly string[];
  /** Environment (wasmtime). Default `{}`. */
  env?: Readonly<Record<string, string>>;
  /** Default false. */
  daemon?: boolean;
  /** Default false. */
  latent?: boolean;
  /** Default false. */
  encrypted?: boolean;
}

/** Where a start or stop goes. */
export interface ShapeTarget {
  /** Target proplet; absent for a broadcast (shared topic, `broadcast: true`). */
  propletId?: string;
  dialect: Dialect;
  /** The proplet asked for its own topics (`…/control/manager/start/{proplet_id}`). */
  perPropletTopics: boolean;
  /**
   * It registered with the `propeller` extension, so starts also carry `task_id` and `attempt`.
   * Default: `perPropletTopics` — only extension speakers ask for their own topics, and the
   * proplet events record that flag (not the extension version), so the gateway can rebuild it.
   */
  extension?: boolean;
  /** Its domain, channel and layout. */
  channel: ChannelRef;
}

/** The module: inline (`file`, base64 or bytes) and/or by name for the registry (`imageUrl`). */
export interface StartModule {
  file?: string | Uint8Array;
  imageUrl?: string;
}

/** Input of `shapeStart`. */
export interface ShapeStartInput {
  task: StartTask;
  /** Attempt number, ≥ 1. */
  attempt: number;
  target: ShapeTarget;
  module: StartModule;
}

/** A start as it goes on the wire. */
export interface StartPayload {
  id: string;
  name: string;
  state: number;
  file?: string;
  image_url?: string;
  inputs: string[] | number[];
  cli_args?: string[];
  env?: Record<string, string>;
  daemon?: boolean;
  latent?: boolean;
  encrypted?: boolean;
  broadcast?: boolean;
  proplet_id?: string;
  task_id?: string;
  attempt?: number;
}

/** A stop as it goes on the wire; WAMR needs `name` and `state` as strings. */
export interface StopPayload {
  id: string;
  proplet_id?: string;
  broadcast?: boolean;
  name?: string;
  state?: string;
}

/** Why a message cannot be shaped for its target. */
export type ShapeRefusalReason = 'too_large_for_wamr' | 'too_many_inputs' | 'invalid_input' | 'missing_module' | 'invalid_target';

/** A message that cannot be sent to this target; `size` is the byte size for `too_large_for_wamr`. */
export interface ShapeRefusal {
  readonly ok: false;
  readonly reason: ShapeRefusalReason;
  readonly field?: string;
  readonly size?: number;
  readonly message: string;
}

/** A shaped message: the topic, the exact payload text and its byte size. */
export interface Shaped<P> {
  readonly ok: true;
  readonly topic: string;
  readonly payload: string;
  readonly message: P;
  readonly bytes: number;
  readonly wireId: string;
}

function refuse(reason: ShapeRefusalReason, message: string, extra: { field?: string; size?: number } = {}): ShapeRefusal {
  return { ok: false, reason, message, ...extra };
}

function topicOf(kind: 'start' | 'stop', target: ShapeTarget): string | ShapeRefusal {
  try {
    const topics = topicsFor(target.channel);
    return target.perPropletTopics && target.propletId !== undefined ? topics.of(kind, target.propletId) : topics.of(kind);
  } catch (e) {
    if (isInvalid(e)) return refuse('invalid_target', e.message, { field: `target.${e.issues[0]?.field ?? 'channel'}` });
    throw e;
  }
}

function wireInputs(dialect: Dialect, inputs: readonly (string | number)[]): string[] | number[] | ShapeRefusal {
  if (dialect === 'wasmtime') {
    const out: string[] = [];
    for (const [i, v] of inputs.entries()) {
      if (typeof v === 'number' && !Number.isFinite(v)) return refuse('invalid_input', `inputs[${i}] must be a finite number, got ${formatValue(String(v))}`, { field: `inputs[${i}]` });
      out.push(typeof v === 'number' ? String(v) : v);
    }
    return out;
  }
  if (inputs.length > WAMR_MAX_INPUTS) {
    return refuse('too_many_inputs', `a wamr start takes at most ${WAMR_MAX_INPUTS} inputs, got ${inputs.length}`, { field: 'inputs' });
  }
  const out: number[] = [];
  for (const [i, v] of inputs.entries()) {
    const n = typeof v === 'number' ? v : /^[+-]?\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
    if (!Number.isInteger(n) || n < I32_MIN || n > I32_MAX) {
      return refuse('invalid_input', `inputs[${i}] must be an integer in the i32 range [${I32_MIN}, ${I32_MAX}] for a wamr target, got ${formatValue(v)}`, {
        field: `inputs[${i}]`,
      });
    }
    out.push(n);
  }
  return out;
}

const toBase64 = (file: string | Uint8Array): string => (typeof file === 'string' ? file : Buffer.from(file).toString('base64'));

function serialise<P>(topic: string, message: P, wireId: string): Shaped<P> {
  const payload = JSON.stringify(message);
  return { ok: true, topic, payload, message, bytes: Buffer.byteLength(payload, 'utf8'), wireId };
}

/**
 * Shapes one attempt's start for its target.
 * - `wasmtime`: inputs as strings, `state: 0`, `cli_args`, `env` and the flags always present; the
 *   module inline when given, else `image_url`.
 * - `wamr`: inputs as i32 numbers (≤ 16), `name: "main"`, only the fields the firmware reads, and
 *   the whole message ≤ 1,023 bytes. When the inline module makes it too large and an `imageUrl`
 *   is known, the start names the `image_url` instead (the module then goes through `registry/*`
 *   as one chunk); otherwise `too_large_for_wamr` with the size.
 * - `task_id` and `attempt` are added for proplets that speak the extension.
 * - Per-proplet topic when the target asked for it, else the shared topic; no `propletId` means broadcast.
 */
export function shapeStart(input: ShapeStartInput): Shaped<StartPayload> | ShapeRefusal {
  const { task, attempt, target, module } = input;
  let wireId: string;
  try {
    wireId = wireIdFor(task.id, attempt);
  } catch (e) {
    if (isInvalid(e)) return refuse('invalid_target', e.message, { field: e.issues[0]?.field ?? 'task.id' });
    throw e;
  }
  const topic = topicOf('start', target);
  if (typeof topic !== 'string') return topic;
  if (module.file === undefined && (module.imageUrl === undefined || module.imageUrl === '')) {
    return refuse('missing_module', 'a start needs module.file or module.imageUrl', { field: 'module' });
  }
  const inputs = wireInputs(target.dialect, task.inputs ?? []);
  if (!Array.isArray(inputs)) return inputs;

  const addressing = target.propletId === undefined ? { broadcast: true } : { proplet_id: target.propletId };
  const extension = (target.extension ?? target.perPropletTopics) ? { task_id: task.id, attempt } : {};

  if (target.dialect === 'wasmtime') {
    const message: StartPayload = {
      id: wireId,
      name: task.name,
      state: START_STATE,
      ...(module.file !== undefined ? { file: toBase64(module.file) } : { image_url: module.imageUrl }),
      inputs,
      cli_args: [...(task.cliArgs ?? [])],
      env: { ...(task.env ?? {}) },
      daemon: task.daemon ?? false,
      latent: task.latent ?? false,
      encrypted: task.encrypted ?? false,
      ...addressing,
      ...extension,
    };
    return serialise(topic, message, wireId);
  }

  const wamr = (moduleField: { file: string } | { image_url: string }): Shaped<StartPayload> =>
    serialise(
      topic,
      {
        id: wireId,
        name: WAMR_ENTRY,
        state: START_STATE,
        ...moduleField,
        inputs,
        ...(task.daemon === true ? { daemon: true } : {}),
        ...addressing,
        ...extension,
      },
      wireId,
    );
  const inline = module.file !== undefined ? wamr({ file: toBase64(module.file) }) : undefined;
  if (inline !== undefined && inline.bytes <= WAMR_MAX_START_BYTES) return inline;
  const byName = module.imageUrl !== undefined && module.imageUrl !== '' ? wamr({ image_url: module.imageUrl }) : undefined;
  if (byName !== undefined && byName.bytes <= WAMR_MAX_START_BYTES) return byName;
  const size = (inline ?? byName)?.bytes ?? 0;
  return refuse('too_large_for_wamr', `the start is ${size} bytes, over the ${WAMR_MAX_START_BYTES}-byte limit of a wamr target`, { size });
}

/** Whether a start fits a WAMR target (for the scheduler's filter), with its size or the reason it does not. */
export type WamrFit = { fits: true; size: number } | { fits: false; reason: ShapeRefusalReason; size?: number; message: string };

/** Shapes the start for a WAMR version of `input.target` and says whether it fits. */
export function startFitsWamr(input: ShapeStartInput): WamrFit {
  const shaped = shapeStart({ ...input, target: { ...input.target, dialect: 'wamr' } });
  if (shaped.ok) return { fits: true, size: shaped.bytes };
  return shaped.size === undefined
    ? { fits: false, reason: shaped.reason, message: shaped.message }
    : { fits: false, reason: shaped.reason, size: shaped.size, message: shaped.message };
}

/** Input of `shapeStop`: the wire id directly (e.g. an abandoned attempt), or the task id and attempt. */
export type ShapeStopInput = ({ wireId: string } | { taskId: string; attempt: number }) & {
  target: ShapeTarget;
  /** Task name sent to WAMR targets; default `main`. */
  name?: string;
};

/**
 * Shapes a stop: `{id, proplet_id}`, or `{id, broadcast: true}` without a proplet; WAMR targets also
 * get `name` and `state` as strings (the firmware drops a stop without them).
 */
export function shapeStop(input: ShapeStopInput): Shaped<StopPayload> | ShapeRefusal {
  let wireId: string;
  try {
    wireId = 'wireId' in input ? input.wireId : wireIdFor(input.taskId, input.attempt);
  } catch (e) {
    if (isInvalid(e)) return refuse('invalid_target', e.message, { field: e.issues[0]?.field ?? 'taskId' });
    throw e;
  }
  if (typeof wireId !== 'string' || wireId.length === 0) return refuse('invalid_target', 'stop needs a non-empty wire id', { field: 'wireId' });
  const topic = topicOf('stop', input.target);
  if (typeof topic !== 'string') return topic;
  const addressing = input.target.propletId === undefined ? { broadcast: true } : { proplet_id: input.target.propletId };
  const message: StopPayload =
    input.target.dialect === 'wamr'
      ? { id: wireId, ...addressing, name: input.name ?? WAMR_ENTRY, state: WAMR_STOP_STATE }
      : { id: wireId, ...addressing };
  return serialise(topic, message, wireId);
}
