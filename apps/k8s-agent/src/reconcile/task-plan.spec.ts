import { FakePropeller } from '../testing/fake-propeller';
import { taskStatusPatch, NOW, TEST_CONFIG, aTask, aTaskState, actionsOf, applyToCr } from '../testing/builders';
import type { Action } from './actions';
import type { PlanContext } from './proplet-plan';
import { planTask, taskDefinitionOf, taskIdOf } from './task-plan';

const ctx: PlanContext = { now: NOW, config: TEST_CONFIG };
const UID = '0b8f3c1e-7a43-4a5e-9a52-3f5d8c1b2a10';

describe('taskIdOf', () => {
  it('is a UUIDv5 of the CR uid: the same for the same uid, different for another', () => {
    expect(taskIdOf(UID)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(taskIdOf(UID)).toBe(taskIdOf(UID));
    expect(taskIdOf(UID)).not.toBe(taskIdOf('another-uid'));
  });
});

describe('planTask', () => {
  it('creates the task with the CR defaults and starts it at once', () => {
    const cr = aTask('add').uid(UID).withoutFinalizer().build();
    const actions = planTask(cr, {}, ctx);
    expect(actions.map((a) => a.type)).toEqual(['addFinalizer', 'createTask', 'startTask', 'emitEvent', 'patchStatus']);
    expect(actionsOf(actions, 'createTask')[0]?.task).toMatchObject({
      id: taskIdOf(UID),
      name: 'add',
      functionName: 'add',
      preferredPropletType: 'any',
      daemon: false,
      inputs: [10, 32],
      owner: { namespace: 'default', name: 'add', uid: UID },
    });
    expect(taskStatusPatch(actions)).toMatchObject({ phase: 'Pending', taskId: taskIdOf(UID), attempts: 0 });
  });

  it('creates the task only once across operator restarts', async () => {
    const propeller = new FakePropeller();
    const cr = aTask('add').uid(UID).build();
    // Two operators that share nothing but Propeller's state (a restart), each planning from scratch.
    for (let run = 0; run < 2; run++) {
      const actions = planTask(cr, { task: await propeller.getTask(taskIdOf(UID)) }, ctx);
      for (const a of actions) await applyToFake(propeller, a);
    }
    expect(propeller.tasks()).toHaveLength(1);
    expect(propeller.calls.filter((c) => c.startsWith('createTask'))).toHaveLength(1);
  });

  it('starts a task that was created but not started (a restart between the two calls)', () => {
    const actions = planTask(aTask('add').uid(UID).build(), { task: aTaskState(taskIdOf(UID), 'created') }, ctx);
    expect(actions.filter((a) => a.type === 'createTask' || a.type === 'startTask').map((a) => a.type)).toEqual(['startTask']);
  });

  it.each([
    ['scheduled', { assignedProplet: 'rpi-1', attempts: 1 }, 'Scheduled', 'Scheduled', 'assigned to proplet rpi-1 (attempt 1)'],
    ['running', { assignedProplet: 'rpi-1', attempts: 1, startedAt: '2026-11-27T13:58:00.000Z' }, 'Running', 'Running', 'running on proplet rpi-1 (attempt 1)'],
    ['completed', { assignedProplet: 'rpi-1', attempts: 1, startedAt: '2026-11-27T13:58:00.000Z', completedAt: '2026-11-27T13:59:00.000Z', results: '42' }, 'Completed', 'Completed', 'completed on proplet rpi-1'],
    ['failed', { assignedProplet: 'rpi-1', attempts: 3, error: 'trap: unreachable' }, 'Failed', 'Failed', 'trap: unreachable'],
    ['stopped', { attempts: 1, assignedProplet: 'rpi-1' }, 'Stopped', 'Stopped', 'the task was stopped'],
  ] as const)('writes status from a %s task and emits a matching event', (status, extra, phase, reason, message) => {
    const cr = aTask('add').uid(UID).status({ phase: 'Pending', taskId: taskIdOf(UID), attempts: 0 }).build();
    const actions = planTask(cr, { task: aTaskState(taskIdOf(UID), status, extra) }, ctx);
    const patch = taskStatusPatch(actions);
    expect(patch).toMatchObject({ phase, assignedProplet: 'rpi-1', attempts: extra.attempts });
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === reason)?.message).toBe(message);
  });

  it('records results and times of a completed task and sets the Completed condition', () => {
    const task = aTaskState(taskIdOf(UID), 'completed', { assignedProplet: 'p', attempts: 1, startedAt: '2026-11-27T13:58:00.000Z', completedAt: '2026-11-27T13:59:00.000Z', results: { sum: 42 } });
    const patch = taskStatusPatch(planTask(aTask('add').uid(UID).build(), { task }, ctx));
    expect(patch).toMatchObject({ startTime: '2026-11-27T13:58:00.000Z', completionTime: '2026-11-27T13:59:00.000Z', results: { sum: 42 } });
    expect(patch?.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Scheduled', 'True'],
      ['Started', 'True'],
      ['Completed', 'True'],
    ]);
  });

  it('shows the scheduler explanation while the task is unschedulable, as a condition and a Warning event', () => {
    const why = '3 proplets lack capability sensor, e.g. rpi-1, rpi-2';
    const actions = planTask(aTask('add').uid(UID).build(), { task: aTaskState(taskIdOf(UID), 'pending', { unschedulableReason: why }) }, ctx);
    const patch = taskStatusPatch(actions);
    expect(patch?.unschedulableReason).toBe(why);
    expect(patch?.conditions?.[0]).toMatchObject({ type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: why });
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'Unschedulable')).toMatchObject({ eventType: 'Warning', message: why });
  });

  it('patches nothing when the task has not changed', () => {
    const task = aTaskState(taskIdOf(UID), 'running', { assignedProplet: 'p', attempts: 1 });
    const cr = aTask('add').uid(UID).build();
    const written = applyToCr(cr, planTask(cr, { task }, ctx));
    expect(planTask(written, { task }, { ...ctx, now: new Date(NOW.getTime() + 60_000) })).toEqual([]);
  });

  it('stops a running task when the CR is deleted, then removes the finalizer', () => {
    const actions = planTask(aTask('add').uid(UID).deleting().build(), { task: aTaskState(taskIdOf(UID), 'running') }, ctx);
    expect(actions.map((a) => a.type)).toEqual(['stopTask', 'emitEvent', 'removeFinalizer']);
    expect(actionsOf(actions, 'stopTask')[0]).toEqual({ type: 'stopTask', taskId: taskIdOf(UID), reason: 'TaskDeleted' });
  });

  it('only removes the finalizer when the deleted task already finished', () => {
    const actions = planTask(aTask('add').uid(UID).deleting().build(), { task: aTaskState(taskIdOf(UID), 'completed') }, ctx);
    expect(actions.map((a) => a.type)).toEqual(['removeFinalizer']);
  });

  it('creates no task for a spec that breaks the imageUrl/file rule', () => {
    const cr = aTask('add', { imageUrl: 'ghcr.io/x/add:v1' }).uid(UID).build();
    const actions = planTask(cr, {}, ctx);
    expect(actionsOf(actions, 'createTask')).toEqual([]);
    expect(taskStatusPatch(actions)).toMatchObject({ phase: 'Failed', error: 'invalid spec: exactly one of spec.imageUrl or spec.file must be set' });
  });

  it('warns that a spec change after creation is ignored', () => {
    const cr = aTask('add').uid(UID).generation(2).status({ phase: 'Running', taskId: taskIdOf(UID), observedGeneration: 1 }).build();
    const actions = planTask(cr, { task: aTaskState(taskIdOf(UID), 'running') }, ctx);
    expect(actionsOf(actions, 'emitEvent').map((e) => e.reason)).toContain('SpecChangeIgnored');
    expect(actionsOf(actions, 'createTask')).toEqual([]);
  });

  it('maps the CR fields onto the task definition', () => {
    const def = taskDefinitionOf(
      aTask('ml', { file: undefined, imageUrl: 'ghcr.io/x/ml:v1', functionName: 'infer', preferredPropletType: 'k8s', resourceRequirements: { cpu: 1, memory: '512Mi' }, propletSelector: { matchCapabilities: ['gpu'] } }).uid(UID).build(),
    );
    expect(def).toMatchObject({ functionName: 'infer', imageUrl: 'ghcr.io/x/ml:v1', preferredPropletType: 'k8s', resourceRequirements: { cpu: '1', memory: '512Mi' }, propletSelector: { matchCapabilities: ['gpu'] } });
    expect(def.file).toBeUndefined();
  });
});

async function applyToFake(propeller: FakePropeller, a: Action): Promise<void> {
  if (a.type === 'createTask') await propeller.createTask(a.task);
  if (a.type === 'startTask') await propeller.startTask(a.taskId);
}
