import type { TaskEvent } from '@propeller/events';
import { wireIdFor } from '@propeller/mqtt-protocol';
import { TaskHistory } from '../testing/given';
import { TIMEOUT_REASON_PREFIX, taskDecider } from './decider';
import { isLive, isPlaced, type LiveTask, type TaskBase, type TaskState } from './state';
import type { TaskSpec } from './types';

const T = '3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c';
const W1 = wireIdFor(T, 1);
const W2 = wireIdFor(T, 2);
const AT2 = '2025-01-01T00:00:05.000Z';

/**
 * `evolve` as it was written with object rest/spread (before it built each status's object
 * explicitly). The rewrite must fold every history to the same state, with the same keys (an
 * `undefined` key included) in the same order, so the `state` JSON the projection stores is unchanged.
 */
function referenceEvolve(state: TaskState, event: TaskEvent): TaskState {
  const base = (t: LiveTask): TaskBase => ({
    spec: t.spec,
    createdAt: t.createdAt,
    attempt: t.attempt,
    attemptsUsed: t.attemptsUsed,
    startedAt: t.startedAt,
    unschedulableReasons: t.unschedulableReasons,
    discardedWireIds: t.discardedWireIds,
  });
  if (event.type === 'TaskCreated') {
    const { createdAt, ...spec } = event.data;
    return { status: 'created', spec, createdAt, attempt: 1, attemptsUsed: 0, startedAt: undefined, unschedulableReasons: undefined, discardedWireIds: [] };
  }
  if (!isLive(state)) return state;
  const b = base(state);
  switch (event.type) {
    case 'TaskUpdated': {
      const { updatedAt: _at, ...patch } = event.data;
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      return { ...state, spec: { ...state.spec, ...defined } as TaskSpec };
    }
    case 'TaskStarted':
      return { ...b, status: 'pending', startedAt: event.data.startedAt, pendingSince: event.data.startedAt };
    case 'TaskScheduled': {
      const d = event.data;
      return { ...b, status: 'scheduled', attempt: d.attempt, unschedulableReasons: undefined, propletId: d.propletId, wireId: d.wireId, scheduledAt: d.scheduledAt };
    }
    case 'TaskDispatched':
      return state;
    case 'TaskRunning': {
      const d = event.data;
      const scheduledAt = isPlaced(state) ? state.scheduledAt : d.runningAt;
      return { ...b, status: 'running', attempt: d.attempt, propletId: d.propletId, wireId: d.wireId, scheduledAt, runningAt: d.runningAt, evidence: d.evidence };
    }
    case 'TaskCompleted': {
      const d = event.data;
      return { ...b, status: 'completed', propletId: d.propletId, wireId: d.wireId, results: d.results, finishedAt: d.completedAt };
    }
    case 'TaskFailed': {
      const d = event.data;
      return { ...b, status: 'failed', propletId: d.propletId, wireId: d.wireId, error: d.error, reason: d.reason, finishedAt: d.failedAt };
    }
    case 'TaskStopped': {
      const d = event.data;
      return { ...b, status: 'stopped', propletId: d.propletId, wireId: d.wireId, reason: d.reason, finishedAt: d.stoppedAt };
    }
    case 'TaskEvacuated': {
      const d = event.data;
      const counts = d.reason.startsWith(TIMEOUT_REASON_PREFIX);
      return { ...b, status: 'pending', attempt: d.attempt + 1, attemptsUsed: b.attemptsUsed + (counts ? 1 : 0), unschedulableReasons: undefined, pendingSince: d.evacuatedAt };
    }
    case 'TaskUnschedulable':
      return { ...state, unschedulableReasons: event.data.reasons } as TaskState;
    case 'TaskResultDiscarded':
      return { ...state, discardedWireIds: [...state.discardedWireIds, event.data.wireId] } as TaskState;
    case 'TaskArchived':
      return { status: 'archived', archivedAt: event.data.archivedAt };
    case 'TaskDeleted':
      return { status: 'deleted', deletedAt: event.data.deletedAt };
    default:
      return state;
  }
}

const h = () => new TaskHistory(T);
const unschedulable: TaskEvent = { type: 'TaskUnschedulable', data: { reasons: ['no proplet'], attempt: 1, unschedulableAt: AT2 } };
const discarded: TaskEvent = { type: 'TaskResultDiscarded', data: { wireId: W1, attempt: 1, reason: 'staleAttempt', discardedAt: AT2 } };

const histories: Record<string, TaskEvent[]> = {
  'happy path': h()
    .created()
    .started()
    .scheduled('rpi-1', 1, W1)
    .running('rpi-1', 1, W1)
    .push({ type: 'TaskCompleted', data: { results: '3', attempt: 1, wireId: W1, propletId: 'rpi-1', completedAt: AT2 } }).events,
  'completed without a proplet id, then archived': h()
    .created()
    .started()
    .scheduled('rpi-1', 1, W1)
    .push(
      { type: 'TaskCompleted', data: { results: { a: [1, null] }, attempt: 1, wireId: W1, completedAt: AT2 } },
      { type: 'TaskArchived', data: { status: 'completed', archivedAt: AT2 } },
    ).events,
  'running without scheduled (dispatched evidence)': h()
    .created()
    .started()
    .push({ type: 'TaskRunning', data: { propletId: 'rpi-2', attempt: 1, wireId: W1, evidence: 'dispatched', runningAt: AT2 } }).events,
  'unschedulable, evacuated by a timeout, failed': h()
    .created({ owner: { namespace: 'ns', name: 'n', uid: 'u' } })
    .started()
    .push(unschedulable)
    .scheduled('rpi-1', 1, W1)
    .evacuated('rpi-1', 1, W1, `${TIMEOUT_REASON_PREFIX}no result`)
    .push(unschedulable)
    .scheduled('rpi-2', 2, W2)
    .evacuated('rpi-2', 2, W2)
    .push(discarded, { type: 'TaskFailed', data: { error: 'boom', reason: 'error', attempt: 3, failedAt: AT2 } }, discarded).events,
  'updated, stopped, deleted': h()
    .created({ timeoutMs: null })
    .push(
      { type: 'TaskUpdated', data: { name: 'mul', labels: { a: 'b' }, updatedAt: AT2 } },
      { type: 'TaskStarted', data: { startedAt: AT2 } },
      { type: 'TaskDispatched', data: { propletId: 'rpi-1', attempt: 1, wireId: W1, dispatchedAt: AT2 } },
      { type: 'TaskStopped', data: { reason: 'operator', stoppedAt: AT2 } },
      { type: 'TaskDeleted', data: { status: 'stopped', deletedAt: AT2 } },
      { type: 'TaskStarted', data: { startedAt: AT2 } },
    ).events,
  'stopped while running': h()
    .created()
    .started()
    .scheduled('rpi-1', 1, W1)
    .running('rpi-1', 1, W1)
    .push({ type: 'TaskStopped', data: { propletId: 'rpi-1', attempt: 1, wireId: W1, stoppedAt: AT2 } }).events,
};

describe('Task evolve (allocation-light)', () => {
  it.each(Object.entries(histories))('folds "%s" to the same states, keys and JSON as the spread version', (_name, events) => {
    let mine = taskDecider.initialState();
    let ref = taskDecider.initialState();
    // Folded from a JSON round trip each step, as the projection folds the state its rows stored.
    const roundTrip = (s: TaskState) => JSON.parse(JSON.stringify(s)) as TaskState;
    let stored = taskDecider.initialState();
    let storedRef = taskDecider.initialState();
    for (const e of events) {
      mine = taskDecider.evolve(mine, e);
      ref = referenceEvolve(ref, e);
      stored = taskDecider.evolve(roundTrip(stored), e);
      storedRef = referenceEvolve(roundTrip(storedRef), e);
      expect(mine).toStrictEqual(ref);
      expect(Object.keys(mine)).toEqual(Object.keys(ref));
      expect(JSON.stringify(mine)).toBe(JSON.stringify(ref));
      expect(JSON.stringify(stored)).toBe(JSON.stringify(storedRef));
      if (isLive(mine) && isLive(ref)) expect(Object.keys(mine.spec)).toEqual(Object.keys(ref.spec));
    }
  });

  it('shares the spec by reference from one status to the next', () => {
    const [c, ...rest] = histories['happy path'] ?? [];
    if (c === undefined) throw new Error('no history');
    let s = taskDecider.evolve(taskDecider.initialState(), c);
    const spec = isLive(s) ? s.spec : undefined;
    expect(spec).toBeDefined();
    for (const e of rest) {
      s = taskDecider.evolve(s, e);
      expect(isLive(s) && s.spec).toBe(spec);
    }
  });

  it('does not change the state or the event it folds', () => {
    const events = histories['unschedulable, evacuated by a timeout, failed'] ?? [];
    expect(events.length).toBeGreaterThan(5);
    const copy = JSON.parse(JSON.stringify(events)) as unknown;
    let s = taskDecider.initialState();
    for (const e of events) {
      const before = JSON.stringify(s);
      const next = taskDecider.evolve(s, e);
      expect(JSON.stringify(s)).toBe(before);
      s = next;
    }
    expect(events).toEqual(copy);
  });
});
