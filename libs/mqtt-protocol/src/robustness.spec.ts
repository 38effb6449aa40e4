import { parseMessage, REJECTION_REASONS, TOPIC_KINDS, type TopicKind } from './index';
import { createShapeSamples } from './testing';

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID: Record<TopicKind, Record<string, unknown>> = {
  create: createShapeSamples('fz')[1]?.payload ?? {},
  alive: { proplet_id: 'p', status: 'alive', load: { running_tasks: 1 } },
  start: { id: 't', name: 'add', state: 0, image_url: 'x', inputs: ['1'] },
  stop: { id: 't', proplet_id: 'p' },
  task_started: { task_id: 't', proplet_id: 'p', attempt: 1 },
  results: { task_id: 't', results: '1' },
  metrics: { proplet_id: 'p', timestamp: 1, cpu_metrics: { percent: 1 } },
  task_metrics: { task_id: 't', proplet_id: 'p', metrics: {} },
  registry_request: { app_name: 'a' },
  registry_chunk: { app_name: 'a', chunk_idx: 0, total_chunks: 1, data: '' },
};

const ODD_VALUES: unknown[] = [null, true, 0, -1, 1e308, '', 'x', [], [null], {}, { a: { b: [1, 'x'] } }, '\u0000', 'é'.repeat(50)];

/** Replaces one random field (possibly nested) of a copy of `obj` by an odd value, or deletes it. */
function mutate(obj: Record<string, unknown>, rnd: () => number): Record<string, unknown> {
  const copy = structuredClone(obj);
  let target: Record<string, unknown> = copy;
  for (;;) {
    const keys = Object.keys(target);
    if (keys.length === 0) break;
    const key = keys[Math.floor(rnd() * keys.length)] ?? '';
    const inner = target[key];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner) && rnd() < 0.5) {
      target = inner as Record<string, unknown>;
      continue;
    }
    if (rnd() < 0.2) delete target[key];
    else target[key] = ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)];
    break;
  }
  return copy;
}

describe('parsing never throws', () => {
  it.each(TOPIC_KINDS.map((k) => [k]))('answers every mutated, truncated or random %s payload with a value or a known rejection', (kind) => {
    const rnd = prng(kind.length * 7919);
    const valid = JSON.stringify(VALID[kind]);
    expect(parseMessage(kind, valid).ok).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const variant = i % 4;
      const payload =
        variant === 0
          ? JSON.stringify(mutate(VALID[kind], rnd))
          : variant === 1
            ? valid.slice(0, Math.floor(rnd() * valid.length))
            : variant === 2
              ? Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)))
              : JSON.stringify(ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)]);
      const result = parseMessage(kind, payload);
      if (result.ok) continue;
      expect(REJECTION_REASONS).toContain(result.reason);
      expect(result.message.length).toBeGreaterThan(0);
      seen.add(result.reason);
    }
    // The generator reaches the structural reasons for every kind.
    expect([...seen]).toEqual(expect.arrayContaining(['not_json', 'not_object']));
  });

  it('refuses JSON nested deeper than 64 levels, which the gateway could not serialise again', () => {
    const nested = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    // depth 1 = the payload object, 2 = `results`, so 63 more levels fit and 64 do not.
    expect(parseMessage('results', `{"task_id":"t","results":${nested(63)}}`).ok).toBe(true);
    expect(parseMessage('results', `{"task_id":"t","results":${nested(64)}}`)).toMatchObject({ ok: false, reason: 'invalid_field', field: 'results' });
    expect(parseMessage('results', `{"task_id":"t","results":${nested(5_000)}}`)).toMatchObject({ ok: false, reason: 'invalid_field', field: 'results' });
  });

  it('survives nesting deep enough to overflow a recursive formatter', () => {
    const deepArray = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    expect(parseMessage('alive', `{"proplet_id":"p","status":"alive","load":${deepArray}}`)).toMatchObject({ ok: false, reason: 'invalid_field', field: 'load' });
    expect(parseMessage('alive', deepArray)).toMatchObject({ ok: false, reason: 'not_object' });
  });
});
