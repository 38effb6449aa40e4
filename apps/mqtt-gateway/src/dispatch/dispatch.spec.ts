import { wireIdFor } from '@propeller/mqtt-protocol';
import { AttemptIndex } from './attempt-index';
import { locateModule, ModuleSource, type ModuleStore } from './modules';
import { foldTaskView, startStillWanted, TaskViews, type TaskEventLike } from './task-view';

const T = '6f1c1a52-3b7e-4d6b-9a53-2f1f3c0d9e11';
const W2 = wireIdFor(T, 2);

/** Fluent builder of a task's events. */
const task = () => {
  const events: TaskEventLike[] = [];
  const add = (type: string, data: Record<string, unknown>) => (events.push({ type, aggregateId: T, data }), b);
  const b = {
    events,
    created: (over: Record<string, unknown> = {}) => add('TaskCreated', { name: 'add', inputs: [1, 2], module: { digest: 'sha256:aa', size: 41, source: 'inline' }, ...over }),
    updated: (patch: Record<string, unknown>) => add('TaskUpdated', patch),
    scheduled: (attempt: number, propletId: string) => add('TaskScheduled', { attempt, propletId, wireId: wireIdFor(T, attempt) }),
    evacuated: (attempt: number, fromPropletId: string) => add('TaskEvacuated', { attempt, fromPropletId, wireId: wireIdFor(T, attempt), reason: 'timeout: silent' }),
    stopped: (attempt: number, propletId: string) => add('TaskStopped', { attempt, propletId, wireId: wireIdFor(T, attempt) }),
    failed: (attempt: number, propletId: string, reason: string) => add('TaskFailed', { attempt, propletId, wireId: wireIdFor(T, attempt), reason, error: 'x' }),
    archived: () => add('TaskArchived', { status: 'completed' }),
  };
  return b;
};

describe('task view (what a start is shaped from)', () => {
  it('takes the spec from TaskCreated with its later updates, functionName defaulting to name', () => {
    const v = foldTaskView(task().created().updated({ inputs: [5], env: { A: '1' } }).events);
    expect(v).toMatchObject({ functionName: 'add', inputs: [5], env: { A: '1' }, module: { digest: 'sha256:aa' }, imageUrl: null });
  });

  it('wants the start of the current attempt only while nothing left it', () => {
    const b = task().created().scheduled(1, 'a');
    expect(startStillWanted(foldTaskView(b.events), T)).toBe(true);
    b.evacuated(1, 'a').scheduled(2, 'b');
    expect(startStillWanted(foldTaskView(b.events), T)).toBe(false);
    expect(startStillWanted(foldTaskView(b.events), W2)).toBe(true);
    b.stopped(2, 'b');
    expect(startStillWanted(foldTaskView(b.events), W2)).toBe(false);
  });

  it('wants no start for a task it never saw created', () => {
    expect(startStillWanted(foldTaskView([{ type: 'TaskScheduled', aggregateId: T, data: { attempt: 1, wireId: T, propletId: 'a' } }]), T)).toBe(false);
  });
});

describe("task views (the follower's fold, instead of reading a task back per start)", () => {
  const viewsOf = (events: TaskEventLike[], capacity?: number) => {
    const v = new TaskViews(capacity);
    for (const e of events) v.apply(e);
    return v;
  };

  it('holds the same view as folding the history, through updates, evacuation and the next attempt', () => {
    const b = task().created().updated({ inputs: [5] }).scheduled(1, 'a').evacuated(1, 'a').scheduled(2, 'b');
    expect(viewsOf(b.events).get(T)?.view).toEqual(foldTaskView(b.events));
    expect(startStillWanted(viewsOf(b.events).get(T)?.view, W2)).toBe(true);
    expect(startStillWanted(viewsOf(b.events).get(T)?.view, T)).toBe(false);
  });

  it('keeps the latest trace of the history, TaskStarted included, over events without one', () => {
    const events = [
      { type: 'TaskCreated', aggregateId: T, data: { name: 'add' }, traceparent: 'trace-create' },
      { type: 'TaskStarted', aggregateId: T, data: {}, traceparent: 'trace-start' },
      { type: 'TaskScheduled', aggregateId: T, data: { attempt: 1, wireId: T, propletId: 'a' }, traceparent: null },
    ];
    expect(viewsOf(events).get(T)?.traceparent).toBe('trace-start');
    expect(viewsOf(events.slice(0, 1)).get(T)?.traceparent).toBe('trace-create');
  });

  it('lets a finished task go (a start for it reads the history, which says superseded)', () => {
    expect(viewsOf(task().created().scheduled(1, 'a').stopped(1, 'a').events).get(T)).toBeUndefined();
    expect(viewsOf(task().created().scheduled(1, 'a').failed(1, 'a', 'timeout').events).size).toBe(0);
  });

  it('holds nothing for a task it never saw created', () => {
    expect(viewsOf([{ type: 'TaskScheduled', aggregateId: T, data: { attempt: 1, wireId: T, propletId: 'a' } }]).get(T)).toBeUndefined();
  });

  it('drops the oldest view past its bound', () => {
    const created = (id: string): TaskEventLike => ({ type: 'TaskCreated', aggregateId: id, data: { name: 'add' } });
    const v = viewsOf([created('t1'), created('t2'), created('t3')], 2);
    expect([v.get('t1'), v.get('t2')?.view.taskId, v.get('t3')?.view.taskId]).toEqual([undefined, 't2', 't3']);
  });
});

describe('module cache (by digest)', () => {
  const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;
  const countingStore = (sizes: Record<string, number>) => {
    const reads: string[] = [];
    const store: ModuleStore = {
      getBlob: async (name) => (reads.push(name), sizes[name] === undefined ? null : new Uint8Array(sizes[name] as number).fill(7)),
      info: async () => null,
      putBlob: async () => undefined,
    };
    return { store, reads };
  };

  it('reads a digest from the object store once, then serves the same bytes from memory', async () => {
    const { store, reads } = countingStore({ [digest(1)]: 10 });
    const m = new ModuleSource({ store });
    const first = await m.byDigest(digest(1));
    const second = await m.byDigest(digest(1));
    expect(reads).toEqual([digest(1)]);
    expect(second.bytes).toEqual(first.bytes);
    expect(m.cached).toEqual({ modules: 1, bytes: 10 });
  });

  it('keeps no more bytes than its bound, dropping the least recently used, and never caches a missing module', async () => {
    const { store, reads } = countingStore(Object.fromEntries([1, 2, 3, 4, 5].map((n) => [digest(n), 10])));
    const m = new ModuleSource({ store, cacheBytes: 40 });
    for (const n of [1, 2, 1, 3, 4, 5]) await m.byDigest(digest(n));
    expect(m.cached).toEqual({ modules: 4, bytes: 40 });
    await m.byDigest(digest(1));
    await m.byDigest(digest(2));
    expect(reads).toEqual([1, 2, 3, 4, 5, 2].map(digest));
    await expect(m.byDigest(digest(9))).rejects.toThrow('is not in the module store');
    await expect(m.byDigest(digest(9))).rejects.toThrow('is not in the module store');
    expect(reads.filter((r) => r === digest(9))).toHaveLength(2);
  });

  it('reads every time with the cache off', async () => {
    const { store, reads } = countingStore({ [digest(1)]: 10 });
    const m = new ModuleSource({ store, cacheBytes: 0 });
    await m.byDigest(digest(1));
    await m.byDigest(digest(1));
    expect(reads).toHaveLength(2);
  });
});

describe('attempt index (wire id → task and attempt)', () => {
  const indexOf = (events: TaskEventLike[]) => {
    const i = new AttemptIndex();
    for (const e of events) i.apply(e);
    return i;
  };

  it('maps the wire id of every scheduled attempt to its task, attempt and proplet, case-insensitively', () => {
    const i = indexOf(task().created().scheduled(1, 'a').evacuated(1, 'a').scheduled(2, 'b').events);
    expect(i.lookup(T)).toEqual({ taskId: T, attempt: 1, wireId: T, propletId: 'a' });
    expect(i.lookup(W2.toUpperCase())).toEqual({ taskId: T, attempt: 2, wireId: W2, propletId: 'b' });
    expect(i.lookup('unknown')).toBeUndefined();
  });

  it('remembers an evacuated attempt as abandoned on its proplet until that proplet is heard from, once', () => {
    const i = indexOf(task().created().scheduled(1, 'a').evacuated(1, 'a').scheduled(2, 'b').events);
    expect(i.holdsAbandoned('a')).toBe(true);
    expect(i.holdsAbandoned('b')).toBe(false);
    expect(i.takeAbandoned('a').map((r) => r.wireId)).toEqual([T]);
    expect(i.takeAbandoned('a')).toEqual([]);
  });

  it('keeps an abandoned attempt whose stop could not be sent for the next beat', () => {
    const i = indexOf(task().created().scheduled(1, 'a').evacuated(1, 'a').events);
    const [ref] = i.takeAbandoned('a');
    i.restoreAbandoned(ref as NonNullable<typeof ref>);
    expect(i.takeAbandoned('a').map((r) => r.wireId)).toEqual([T]);
  });

  it('counts a stopped attempt and a last attempt that timed out as abandoned, not one that failed on its own error', () => {
    expect(indexOf(task().created().scheduled(1, 'a').stopped(1, 'a').events).holdsAbandoned('a')).toBe(true);
    expect(indexOf(task().created().scheduled(1, 'a').failed(1, 'a', 'timeout').events).holdsAbandoned('a')).toBe(true);
    expect(indexOf(task().created().scheduled(1, 'a').failed(1, 'a', 'error').events).holdsAbandoned('a')).toBe(false);
  });

  it('forgets an archived task', () => {
    const i = indexOf(task().created().scheduled(1, 'a').stopped(1, 'a').archived().events);
    expect(i.lookup(T)).toBeUndefined();
    expect(i.holdsAbandoned('a')).toBe(false);
    expect(i.size).toBe(0);
  });
});

describe('module locations', () => {
  it.each([
    ['https://example.com/m/add.wasm', { kind: 'http', url: 'https://example.com/m/add.wasm' }],
    [`http://h/add.wasm#sha256=${'AB'.repeat(32)}`, { kind: 'http', url: 'http://h/add.wasm', expectedDigest: `sha256:${'ab'.repeat(32)}` }],
    [`sha256:${'0f'.repeat(32)}`, { kind: 'digest', digest: `sha256:${'0f'.repeat(32)}` }],
    ['oci://ghcr.io/absmach/add:1', { kind: 'oci', reference: 'oci://ghcr.io/absmach/add:1' }],
    ['docker://add:latest', { kind: 'oci', reference: 'docker://add:latest' }],
    ['ghcr.io/absmach/add:1', { kind: 'oci', reference: 'ghcr.io/absmach/add:1' }],
  ])('reads %s', (name, expected) => {
    expect(locateModule(name)).toEqual(expected);
  });

  it('refuses other schemes, naming the accepted forms', () => {
    const where = locateModule('ftp://h/add.wasm');
    expect(where.kind).toBe('invalid');
    expect(where.kind === 'invalid' && where.message).toContain('http(s)://');
  });
});
