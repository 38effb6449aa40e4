import type { TaskEvent } from '@propeller/events';
import { wireIdFor } from '@propeller/mqtt-protocol';
import { AT, TaskHistory, command, given } from '../testing/given';
import { TIMEOUT_REASON_PREFIX, taskDecider } from './decider';

const T = '3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c';
const W1 = wireIdFor(T, 1);
const W2 = wireIdFor(T, 2);
const W3 = wireIdFor(T, 3);

const history = () => new TaskHistory(T);
const created = () => history().created();
const pending = () => created().started();
const scheduled = (p = 'rpi-1') => pending().scheduled(p, 1, W1);
const running = (p = 'rpi-1') => scheduled(p).running(p, 1, W1);

const fold = (events: TaskEvent[]) => events.reduce(taskDecider.evolve, taskDecider.initialState());

describe('Task decider', () => {
  describe('create', () => {
    it('creates a task with its spec and defaults', () => {
      const events = given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'registry.example/add:1' })).events();
      expect(events).toEqual([
        {
          type: 'TaskCreated',
          data: expect.objectContaining({ name: 'add', functionName: 'add', imageUrl: 'registry.example/add:1', maxAttempts: 3, timeoutMs: 600_000, createdAt: AT }),
        },
      ]);
    });

    it('gives a daemon no timeout by default', () => {
      const [e] = given(taskDecider).when(command('task.create', { taskId: T, name: 'serve', imageUrl: 'x', daemon: true })).events();
      expect(e).toMatchObject({ type: 'TaskCreated', data: { daemon: true, timeoutMs: null } });
    });

    it('refuses a task without a module source, naming the field', () => {
      given(taskDecider).when(command('task.create', { taskId: T, name: 'add' })).thenThrows({ code: 'Invalid', message: /file or image_url/ });
    });

    it('records nothing when the same create is retried', () => {
      const cmd = command('task.create', { taskId: T, name: 'add', imageUrl: 'x' });
      const past = given(taskDecider).when(cmd).events();
      given(taskDecider, past).when(cmd).then([]);
    });

    it('creates and starts a task in one command and one event with start: true', () => {
      const events = given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x', start: true })).events();
      expect(events.map((e) => e.type)).toEqual(['TaskCreated']);
      expect(events[0]?.data).toMatchObject({ createdAt: AT, startedAt: AT });
      const t = fold(events);
      expect(t).toMatchObject({ status: 'pending', attempt: 1, startedAt: AT, pendingSince: AT });
      // The same state as a create followed by a start, spec included (`startedAt` is not part of it).
      const twoEvents = [...given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x' })).events(), { type: 'TaskStarted' as const, data: { startedAt: AT } }];
      expect(t).toEqual(fold(twoEvents));
    });

    it('answers a retried create-and-start with no event once the task is pending', () => {
      const past = given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x', start: true })).events();
      given(taskDecider, past).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x', start: true })).then([]);
    });

    it('starts an existing, unstarted task when the same create is retried with start: true, and no more once started', () => {
      const past = given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x' })).events();
      const again = command('task.create', { taskId: T, name: 'add', imageUrl: 'x', start: true });
      given(taskDecider, past).when(again).then([{ type: 'TaskStarted', data: { startedAt: AT } }]);
      const started = [...past, ...given(taskDecider, past).when(again).events()];
      given(taskDecider, started).when(again).then([]);
    });

    it('refuses a create of an existing id with another spec', () => {
      const past = given(taskDecider).when(command('task.create', { taskId: T, name: 'add', imageUrl: 'x' })).events();
      given(taskDecider, past)
        .when(command('task.create', { taskId: T, name: 'mul', imageUrl: 'x' }))
        .thenThrows({ code: 'Conflict', message: /already exists/ });
    });
  });

  describe('update', () => {
    it('records only the changed fields of a task not yet started', () => {
      given(taskDecider, created().events)
        .when(command('task.update', { taskId: T, inputs: ['1', '2'], maxAttempts: 5 }))
        .then([{ type: 'TaskUpdated', data: { maxAttempts: 5, updatedAt: AT } }]);
    });

    it('refuses to update a started task, naming its state', () => {
      given(taskDecider, pending().events).when(command('task.update', { taskId: T, maxAttempts: 5 })).thenThrows({ code: 'Conflict', message: /is pending/ });
    });
  });

  describe('start', () => {
    it('moves a created task to pending', () => {
      given(taskDecider, created().events).when(command('task.start', { taskId: T })).then([{ type: 'TaskStarted', data: { startedAt: AT } }]);
      expect(fold([...pending().events]).status).toBe('pending');
    });

    it('is idempotent once started', () => {
      given(taskDecider, pending().events).when(command('task.start', { taskId: T })).then([]);
      given(taskDecider, running().events).when(command('task.start', { taskId: T })).then([]);
    });

    it('refuses to start an unknown task', () => {
      given(taskDecider).when(command('task.start', { taskId: T })).thenThrows({ code: 'NotFound' });
    });

    it('refuses to start a finished task', () => {
      const done = running().push({ type: 'TaskCompleted', data: { results: '3', attempt: 1, wireId: W1, completedAt: AT } });
      given(taskDecider, done.events).when(command('task.start', { taskId: T })).thenThrows({ code: 'Conflict', message: /is completed/ });
    });
  });

  describe('schedule (the placement loop)', () => {
    it('places the pending attempt with its wire id', () => {
      given(taskDecider, pending().events)
        .when(command('task.schedule', { taskId: T, propletId: 'rpi-1', attempt: 1, explanation: 'only one' }, { fencingToken: 7 }))
        .then([{ type: 'TaskScheduled', data: { propletId: 'rpi-1', attempt: 1, wireId: T, explanation: 'only one', scheduledAt: AT } }]);
    });

    it('is idempotent for the same attempt and proplet, and refuses a second proplet for it', () => {
      given(taskDecider, scheduled().events).when(command('task.schedule', { taskId: T, propletId: 'rpi-1', attempt: 1, explanation: 'x' }, { fencingToken: 7 })).then([]);
      given(taskDecider, scheduled().events)
        .when(command('task.schedule', { taskId: T, propletId: 'rpi-2', attempt: 1, explanation: 'x' }, { fencingToken: 7 }))
        .thenThrows({ code: 'Conflict', message: /already scheduled on proplet rpi-1/ });
    });

    it('refuses to schedule a task that is not pending, naming its state', () => {
      given(taskDecider, created().events)
        .when(command('task.schedule', { taskId: T, propletId: 'rpi-1', attempt: 1, explanation: 'x' }, { fencingToken: 7 }))
        .thenThrows({ code: 'Conflict', message: /is created/ });
    });

    it('refuses another attempt than the pending one', () => {
      given(taskDecider, pending().events)
        .when(command('task.schedule', { taskId: T, propletId: 'rpi-1', attempt: 2, explanation: 'x' }, { fencingToken: 7 }))
        .thenThrows({ code: 'Conflict', message: /waits for attempt 1/ });
    });
  });

  describe('unschedulable', () => {
    it('records the reasons once, and again only when they change', () => {
      const cmd = command('task.recordUnschedulable', { taskId: T, attempt: 1, reasons: ['no healthy proplet'] }, { fencingToken: 7 });
      const first = given(taskDecider, pending().events).when(cmd).events();
      expect(first).toEqual([{ type: 'TaskUnschedulable', data: { reasons: ['no healthy proplet'], attempt: 1, unschedulableAt: AT } }]);
      given(taskDecider, [...pending().events, ...first]).when(cmd).then([]);
      const changed = command('task.recordUnschedulable', { taskId: T, attempt: 1, reasons: ['2 proplets lack capability sensor'] }, { fencingToken: 7 });
      expect(given(taskDecider, [...pending().events, ...first]).when(changed).events()).toHaveLength(1);
    });

    it('refuses for a task that was placed meanwhile', () => {
      given(taskDecider, scheduled().events)
        .when(command('task.recordUnschedulable', { taskId: T, attempt: 1, reasons: ['x'] }, { fencingToken: 7 }))
        .thenThrows({ code: 'Conflict', message: /is scheduled/ });
    });
  });

  describe('running', () => {
    it('runs when our proplet reports task_started', () => {
      given(taskDecider, scheduled().events)
        .when(command('task.recordStarted', { taskId: T, wireId: W1, propletId: 'rpi-1', attempt: 1 }))
        .then([{ type: 'TaskRunning', data: { propletId: 'rpi-1', attempt: 1, wireId: W1, evidence: 'taskStarted', runningAt: AT } }]);
    });

    it('runs when the gateway records the dispatch for an upstream proplet', () => {
      given(taskDecider, scheduled().events)
        .when(command('task.recordDispatched', { taskId: T, wireId: W1, propletId: 'rpi-1' }))
        .then([{ type: 'TaskRunning', data: { propletId: 'rpi-1', attempt: 1, wireId: W1, evidence: 'dispatched', runningAt: AT } }]);
    });

    it('records nothing for a second task_started or a start of an abandoned attempt', () => {
      given(taskDecider, running().events).when(command('task.recordStarted', { taskId: T, wireId: W1, propletId: 'rpi-1' })).then([]);
      const moved = running().evacuated('rpi-1', 1, W1).scheduled('rpi-2', 2, W2);
      given(taskDecider, moved.events).when(command('task.recordStarted', { taskId: T, wireId: W1, propletId: 'rpi-1' })).then([]);
    });

    it('refuses a wire id that names no attempt of the task', () => {
      given(taskDecider, scheduled().events)
        .when(command('task.recordStarted', { taskId: T, wireId: W3, propletId: 'rpi-1' }))
        .thenThrows({ code: 'Invalid', message: /does not name an attempt/ });
    });
  });

  describe('results', () => {
    it('completes on a success result of the current attempt, with the happy path at four events', () => {
      const done = given(taskDecider, running().events).when(command('task.recordResult', { taskId: T, wireId: W1, results: '3' })).events();
      expect(done).toEqual([{ type: 'TaskCompleted', data: { results: '3', attempt: 1, wireId: W1, propletId: 'rpi-1', completedAt: AT } }]);
      const afterCreation = [...running().events.slice(1), ...done].map((e) => e.type);
      expect(afterCreation).toEqual(['TaskStarted', 'TaskScheduled', 'TaskRunning', 'TaskCompleted']);
    });

    it('stores any JSON result unchanged', () => {
      const [e] = given(taskDecider, running().events).when(command('task.recordResult', { taskId: T, wireId: W1, results: { sum: [1, 2] } })).events();
      expect(e).toMatchObject({ data: { results: { sum: [1, 2] } } });
    });

    it('fails on an error result', () => {
      given(taskDecider, running().events)
        .when(command('task.recordResult', { taskId: T, wireId: W1, error: 'trap: unreachable' }))
        .then([{ type: 'TaskFailed', data: { error: 'trap: unreachable', reason: 'error', attempt: 1, wireId: W1, propletId: 'rpi-1', failedAt: AT } }]);
    });

    it('keeps a daemon running on a success result', () => {
      const daemon = history().created({ daemon: true, timeoutMs: null }).started().scheduled('rpi-1', 1, W1);
      const events = given(taskDecider, daemon.events).when(command('task.recordResult', { taskId: T, wireId: W1, results: 'ok' })).events();
      expect(events.map((e) => e.type)).toEqual(['TaskRunning']);
      given(taskDecider, [...daemon.events, ...events]).when(command('task.recordResult', { taskId: T, wireId: W1, results: 'ok' })).then([]);
    });

    it('discards a result of a stale attempt and changes nothing', () => {
      const moved = running().evacuated('rpi-1', 1, W1).scheduled('rpi-2', 2, W2);
      const events = given(taskDecider, moved.events).when(command('task.recordResult', { taskId: T, wireId: W1, propletId: 'rpi-1', results: '3' })).events();
      expect(events).toEqual([{ type: 'TaskResultDiscarded', data: { wireId: W1, attempt: 1, reason: 'staleAttempt', propletId: 'rpi-1', discardedAt: AT } }]);
      const after = fold([...moved.events, ...events]);
      expect(after).toMatchObject({ status: 'scheduled', attempt: 2, propletId: 'rpi-2' });
      // The same stale result delivered again records nothing more.
      given(taskDecider, [...moved.events, ...events]).when(command('task.recordResult', { taskId: T, wireId: W1, results: '3' })).then([]);
    });

    it('records nothing for a redelivered completing result, and discards a different one after the end', () => {
      const done = running().push({ type: 'TaskCompleted', data: { results: '3', attempt: 1, wireId: W1, completedAt: AT } });
      given(taskDecider, done.events).when(command('task.recordResult', { taskId: T, wireId: W1, results: '3' })).then([]);
      const [e] = given(taskDecider, done.events).when(command('task.recordResult', { taskId: T, wireId: W1, error: 'late' })).events();
      expect(e).toMatchObject({ type: 'TaskResultDiscarded', data: { reason: 'afterTerminal' } });
    });
  });

  describe('timeouts', () => {
    it('moves a silent attempt back to pending with attempt + 1', () => {
      const events = given(taskDecider, scheduled().events).when(command('task.recordTimeout', { taskId: T, attempt: 1 }, { fencingToken: 7 })).events();
      expect(events).toEqual([{ type: 'TaskEvacuated', data: expect.objectContaining({ fromPropletId: 'rpi-1', attempt: 1, wireId: W1 }) }]);
      expect(fold([...scheduled().events, ...events])).toMatchObject({ status: 'pending', attempt: 2, attemptsUsed: 1 });
    });

    it('fails with "timeout after 2 attempts" once max_attempts 2 are used', () => {
      const h = history().created({ maxAttempts: 2 }).started().scheduled('rpi-1', 1, W1);
      const first = given(taskDecider, h.events).when(command('task.recordTimeout', { taskId: T, attempt: 1 }, { fencingToken: 7 })).events();
      h.push(...first).scheduled('rpi-2', 2, W2);
      given(taskDecider, h.events)
        .when(command('task.recordTimeout', { taskId: T, attempt: 2 }, { fencingToken: 7 }))
        .then([{ type: 'TaskFailed', data: { error: 'timeout after 2 attempts', reason: 'timeout', attempt: 2, wireId: W2, propletId: 'rpi-2', failedAt: AT } }]);
    });

    it('ignores the timer of an attempt that has already moved on', () => {
      const moved = running().evacuated('rpi-1', 1, W1).scheduled('rpi-2', 2, W2);
      given(taskDecider, moved.events).when(command('task.recordTimeout', { taskId: T, attempt: 1 }, { fencingToken: 7 })).then([]);
    });
  });

  describe('evacuation', () => {
    it('moves the task off a failed proplet without using up max_attempts', () => {
      const h = history().created({ maxAttempts: 1 }).started().scheduled('rpi-1', 1, W1);
      const events = given(taskDecider, h.events).when(command('task.evacuate', { taskId: T, fromPropletId: 'rpi-1', reason: 'proplet failed' })).events();
      expect(events).toEqual([{ type: 'TaskEvacuated', data: { fromPropletId: 'rpi-1', attempt: 1, wireId: W1, reason: 'proplet failed', evacuatedAt: AT } }]);
      const state = fold([...h.events, ...events]);
      expect(state).toMatchObject({ status: 'pending', attempt: 2, attemptsUsed: 0 });
      // Attempt 2 may still time out once: max_attempts 1 is not used up by the evacuation.
      const again = [...h.events, ...events, { type: 'TaskScheduled', data: { propletId: 'rpi-2', attempt: 2, wireId: W2, explanation: 'x', scheduledAt: AT } } as TaskEvent];
      const [e] = given(taskDecider, again).when(command('task.recordTimeout', { taskId: T, attempt: 2 }, { fencingToken: 7 })).events();
      expect(e).toMatchObject({ type: 'TaskFailed', data: { error: 'timeout after 1 attempt' } });
    });

    it('does not count an evacuation whose reason looks like a timeout', () => {
      const events = given(taskDecider, scheduled().events)
        .when(command('task.evacuate', { taskId: T, fromPropletId: 'rpi-1', reason: `${TIMEOUT_REASON_PREFIX}spoofed` }))
        .events();
      expect(fold([...scheduled().events, ...events])).toMatchObject({ attemptsUsed: 0 });
    });

    it('keeps a task pinned to the failed proplet pending with that reason', () => {
      const h = history().created({ propletSelector: { propletId: 'rpi-1' } }).started().scheduled('rpi-1', 1, W1);
      const events = given(taskDecider, h.events).when(command('task.evacuate', { taskId: T, fromPropletId: 'rpi-1', reason: 'proplet failed' })).events();
      expect(events.map((e) => e.type)).toEqual(['TaskEvacuated', 'TaskUnschedulable']);
      expect(events[1]).toMatchObject({ data: { attempt: 2, reasons: [expect.stringMatching(/pinned to proplet rpi-1/)] } });
      expect(fold([...h.events, ...events])).toMatchObject({ status: 'pending', attempt: 2 });
    });

    it('records nothing for a task that is not on that proplet', () => {
      given(taskDecider, scheduled('rpi-2').events).when(command('task.evacuate', { taskId: T, fromPropletId: 'rpi-1', reason: 'proplet failed' })).then([]);
      given(taskDecider, pending().events).when(command('task.evacuate', { taskId: T, fromPropletId: 'rpi-1', reason: 'proplet failed' })).then([]);
    });
  });

  describe('stop, delete, archive', () => {
    it('stops a running task naming the attempt to stop on its proplet', () => {
      given(taskDecider, running().events)
        .when(command('task.stop', { taskId: T, reason: 'operator' }))
        .then([{ type: 'TaskStopped', data: { reason: 'operator', propletId: 'rpi-1', attempt: 1, wireId: W1, stoppedAt: AT } }]);
      given(taskDecider, [...running().events, { type: 'TaskStopped', data: { stoppedAt: AT } }]).when(command('task.stop', { taskId: T })).then([]);
    });

    it('refuses to stop a completed task', () => {
      const done = running().push({ type: 'TaskCompleted', data: { results: '3', attempt: 1, wireId: W1, completedAt: AT } });
      given(taskDecider, done.events).when(command('task.stop', { taskId: T })).thenThrows({ code: 'Conflict', message: /is completed/ });
    });

    it('deletes a task once, and then it is gone', () => {
      const events = given(taskDecider, running().events).when(command('task.delete', { taskId: T })).events();
      expect(events).toEqual([{ type: 'TaskDeleted', data: { status: 'running', propletId: 'rpi-1', wireId: W1, deletedAt: AT } }]);
      given(taskDecider, [...running().events, ...events]).when(command('task.delete', { taskId: T })).then([]);
      given(taskDecider, [...running().events, ...events]).when(command('task.start', { taskId: T })).thenThrows({ code: 'NotFound', message: /deleted/ });
    });

    it('archives only a finished task', () => {
      given(taskDecider, running().events).when(command('task.archive', { taskId: T })).thenThrows({ code: 'Conflict', message: /is running/ });
      const done = running().push({ type: 'TaskFailed', data: { error: 'x', reason: 'error', attempt: 1, failedAt: AT } });
      given(taskDecider, done.events).when(command('task.archive', { taskId: T })).then([{ type: 'TaskArchived', data: { status: 'failed', archivedAt: AT } }]);
    });
  });
});
