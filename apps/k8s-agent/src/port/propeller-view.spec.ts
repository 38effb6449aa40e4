import type { DomainEventType } from '@propeller/events';
import { EXAMPLE_EVENT_DATA, exampleEnvelope } from '@propeller/events/testing';
import { availableOf, PropellerView } from './propeller-view';

const OWNER = { namespace: 'default', name: 'add', uid: 'uid-add' };
const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';

/** Given these events (in stream order), the view. */
function given(...events: Array<[DomainEventType, string, object?]>): PropellerView {
  const view = new PropellerView();
  for (const [type, id, data] of events) on(view, type, id, data);
  return view;
}
/** When this event (its example data with `data` over it). */
function on(view: PropellerView, type: DomainEventType, aggregateId: string, data: object = {}) {
  return view.apply(exampleEnvelope(type, { aggregateId, data: { ...EXAMPLE_EVENT_DATA[type], ...data } as never }));
}

const registered = (id: string, over: object = {}): [DomainEventType, string, object] => ['PropletRegistered', id, { type: 'external', capacity: { cpu: '2', memory: '1Gi' }, ...over }];
const created = (id: string, over: object = {}): [DomainEventType, string, object] => ['TaskCreated', id, { resourceRequirements: { cpu: '500m', memory: '256Mi' }, ...over }];
const scheduled = (id: string, propletId: string, attempt = 1): [DomainEventType, string, object] => ['TaskScheduled', id, { propletId, attempt }];

describe('PropellerView: tasks owned by a Task CR', () => {
  it('follows a task from created to completed, with its proplet, attempt, start and results', () => {
    const view = given(created(T1, { owner: OWNER }), ['TaskStarted', T1]);
    expect(view.task(T1)).toEqual({ id: T1, status: 'pending', attempts: 0 });
    on(view, 'TaskScheduled', T1, { propletId: 'rpi-1', attempt: 1 });
    expect(view.task(T1)).toMatchObject({ status: 'scheduled', assignedProplet: 'rpi-1', attempts: 1 });
    on(view, 'TaskRunning', T1, { propletId: 'rpi-1', runningAt: '2026-11-27T14:00:00.000Z' });
    on(view, 'TaskCompleted', T1, { results: '42', propletId: 'rpi-1', completedAt: '2026-11-27T14:00:01.000Z' });
    expect(view.task(T1)).toEqual({
      id: T1,
      status: 'completed',
      assignedProplet: 'rpi-1',
      attempts: 1,
      startedAt: '2026-11-27T14:00:00.000Z',
      results: '42',
      completedAt: '2026-11-27T14:00:01.000Z',
    });
  });

  it('shows a task created with start: true (startedAt on TaskCreated) as pending at once', () => {
    const view = given(created(T1, { owner: OWNER, startedAt: '2026-11-27T13:59:59.000Z' }));
    expect(view.task(T1)).toEqual({ id: T1, status: 'pending', attempts: 0 });
  });

  it("keeps the scheduler's explanation while pending and drops it once placed", () => {
    const view = given(created(T1, { owner: OWNER }), ['TaskStarted', T1], ['TaskUnschedulable', T1, { reasons: ['2 proplets lack capability gpu', 'pinned proplet x is offline'] }]);
    expect(view.task(T1)?.unschedulableReason).toBe('2 proplets lack capability gpu; pinned proplet x is offline');
    on(view, 'TaskScheduled', T1, { propletId: 'rpi-1', attempt: 1 });
    expect(view.task(T1)?.unschedulableReason).toBeUndefined();
  });

  it('puts an evacuated task back to pending without a proplet, and counts the next placement', () => {
    const view = given(created(T1, { owner: OWNER }), ['TaskStarted', T1], scheduled(T1, 'rpi-1'), ['TaskRunning', T1, { propletId: 'rpi-1' }], ['TaskEvacuated', T1, { fromPropletId: 'rpi-1' }]);
    expect(view.task(T1)).toEqual({ id: T1, status: 'pending', attempts: 1 });
    on(view, 'TaskScheduled', T1, { propletId: 'rpi-2', attempt: 2 });
    expect(view.task(T1)).toMatchObject({ status: 'scheduled', assignedProplet: 'rpi-2', attempts: 2 });
  });

  it('records the error of a failed task and forgets a deleted one', () => {
    const view = given(created(T1, { owner: OWNER }), ['TaskStarted', T1], ['TaskFailed', T1, { error: 'boom', failedAt: '2026-11-27T14:00:02.000Z' }]);
    expect(view.task(T1)).toMatchObject({ status: 'failed', error: 'boom', completedAt: '2026-11-27T14:00:02.000Z' });
    expect(on(view, 'TaskDeleted', T1)).toEqual({ kind: 'task', id: T1, owner: OWNER });
    expect(view.task(T1)).toBeUndefined();
  });

  it('reports each change with the owning CR, and nothing for events that change nothing it shows', () => {
    const view = given(created(T1, { owner: OWNER }));
    expect(on(view, 'TaskStarted', T1)).toEqual({ kind: 'task', id: T1, owner: OWNER });
    expect(on(view, 'TaskDispatched', T1)).toBeUndefined();
    expect(on(view, 'TaskStarted', T2)).toBeUndefined();
  });
});

describe('PropellerView: proplets', () => {
  it('starts a registered proplet as unknown with its owner, and follows the judged health to deregistered', () => {
    const owner = { namespace: 'default', name: 'pool', uid: 'uid-pool' };
    const view = new PropellerView();
    expect(on(view, 'PropletRegistered', 'pod-a', { type: 'k8s', owner })).toEqual({ kind: 'proplet', id: 'pod-a', owner });
    expect(view.proplet('pod-a')).toMatchObject({ id: 'pod-a', type: 'k8s', health: 'unknown', taskCount: 0 });
    on(view, 'PropletHealthChanged', 'pod-a', { from: 'unknown', to: 'healthy', evidence: { source: 'podReadiness', lastSeenAt: '2026-11-27T14:00:00.000Z' } });
    expect(view.proplet('pod-a')).toMatchObject({ health: 'healthy', lastSeenAt: '2026-11-27T14:00:00.000Z' });
    on(view, 'PropletDeregistered', 'pod-a');
    expect(view.proplet('pod-a')?.health).toBe('deregistered');
    expect(view.propletOwner('pod-a')).toEqual(owner);
  });

  it('counts the unfinished tasks placed on a proplet, owned or not, and the capacity they leave', () => {
    const view = given(registered('rpi-1'), created(T1, { owner: OWNER }), created(T2), ['TaskStarted', T1], ['TaskStarted', T2], scheduled(T1, 'rpi-1'), scheduled(T2, 'rpi-1'));
    expect(view.proplet('rpi-1')).toMatchObject({ taskCount: 2, available: { cpu: '1', memory: '512Mi' } });
    on(view, 'TaskCompleted', T2);
    expect(view.proplet('rpi-1')).toMatchObject({ taskCount: 1, available: { cpu: '1500m', memory: '768Mi' } });
    // The unowned task is no longer followed once finished; the owned one is.
    expect(view.size().tasks).toBe(1);
  });

  it('uses the operator override of the capacity over the reported one, and returns to it when cleared', () => {
    const view = given(registered('rpi-1'), ['PropletLabelled', 'rpi-1', { capacity: { cpu: '4' } }]);
    expect(view.proplet('rpi-1')?.available).toEqual({ cpu: '4' });
    on(view, 'PropletLabelled', 'rpi-1', { capacity: null });
    expect(view.proplet('rpi-1')?.available).toEqual({ cpu: '2', memory: '1Gi' });
  });
});

describe('availableOf', () => {
  it('leaves out resources the proplet does not report and never goes below zero', () => {
    expect(availableOf({ memory: '1Gi' }, [{ cpu: '1', memory: '2Gi' }])).toEqual({ memory: '0' });
    expect(availableOf({}, [{ cpu: '1' }])).toBeUndefined();
  });
});
