import { buildResults, buildTaskStarted, parseStart, type ChannelRef, type Outbound } from '@propeller/mqtt-protocol';

/**
 * How a simulated proplet of the scheduling bench speaks: `extension` registers with the `propeller`
 * extension and its own start/stop topics and reports `task_started`; `upstream` registers as an upstream
 * Rust proplet would (no extension), listens on the channel's shared start topic and sends results only.
 */
export type SimMode = 'extension' | 'upstream';

/** What a simulated proplet does with one start message. */
export type StartAnswer =
  | { kind: 'answer'; wireId: string; messages: Outbound[] }
  /** A start for another proplet on the shared topic: an upstream proplet drops it after reading `proplet_id`. */
  | { kind: 'not_mine' }
  /** A start that does not parse as PROTOCOL.md says: counted, never answered, so a wrong shape is visible. */
  | { kind: 'invalid'; reason: string };

/** `add` over the start's inputs (strings for wasmtime, numbers for wamr), as the example module computes it. */
export function addInputs(inputs: ReadonlyArray<string | number>): number {
  let sum = 0;
  for (const v of inputs) sum += typeof v === 'number' ? v : Number(v);
  // i32 arithmetic, like the Wasm `add`.
  return sum | 0;
}

/**
 * The answer of proplet `propletId` (on `place`) to a start payload: `task_started` (extension only) and
 * the result of `add` at once, named by the start's wire id. Upstream proplets read `proplet_id` before
 * anything else, so a start for another proplet costs them one JSON parse and nothing more.
 */
export function answerStart(mode: SimMode, place: ChannelRef, propletId: string, payload: Uint8Array | string): StartAnswer {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  if (mode === 'upstream') {
    let target: unknown;
    try {
      target = (JSON.parse(text) as { proplet_id?: unknown }).proplet_id;
    } catch {
      return { kind: 'invalid', reason: 'start is not JSON' };
    }
    if (target !== propletId) return { kind: 'not_mine' };
  }
  const start = parseStart(text);
  if (!start.ok) return { kind: 'invalid', reason: start.message };
  const s = start.value;
  if (s.proplet_id !== undefined && s.proplet_id !== propletId) return { kind: 'not_mine' };
  if (s.name !== 'add') return { kind: 'invalid', reason: `start calls ${s.name}, the bench only creates add` };
  const messages: Outbound[] = [];
  if (mode === 'extension') messages.push(buildTaskStarted(place, { wireId: s.id, propletId, ...(s.attempt === undefined ? {} : { attempt: s.attempt }) }));
  messages.push(buildResults(place, { wireId: s.id, propletId, results: String(addInputs(s.inputs)) }));
  return { kind: 'answer', wireId: s.id, messages };
}
