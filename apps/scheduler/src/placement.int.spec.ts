import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { livenessKey } from '@propeller/events';
import { sendCommand, type CommandOk } from '@propeller/eventstore';
import { waitFor } from '@propeller/eventstore/testing';
import { openWorld, type SchedulerWorld } from './testing/world';

let w: SchedulerWorld;

beforeAll(async () => {
  w = await openWorld();
});
afterAll(async () => {
  await w?.close();
});

const types = async (id: string): Promise<string[]> => (await w.taskEvents(id)).map((e) => e.type);

/** Ms from `since` until the task has a `TaskScheduled` for `attempt`; fails after 5 s. */
async function msUntilScheduled(id: string, attempt: number, since: number): Promise<number> {
  await waitFor(async () => (await w.taskEvents(id)).some((e) => e.type === 'TaskScheduled' && (e.data as { attempt: number }).attempt === attempt), `task ${id} attempt ${attempt} to be scheduled`, 5_000);
  return Date.now() - since;
}

async function createAndStart(fields: Record<string, unknown> = {}): Promise<string> {
  const id = randomUUID();
  await w.send('task.create', { taskId: id, name: 'add', imageUrl: 'registry.example/add:1', ...fields });
  await w.send('task.start', { taskId: id });
  return id;
}

/**
 * Sends `task.create` with `start: true` for a task on the proplets labelled `pool`. With no routing
 * option the catalog marks task.create as a leader command, so it reaches the leader; `leader: false`
 * sends it to the queue group, as when no leader answers.
 */
async function createStarted(pool: string, opts: { leader?: boolean } = {}): Promise<{ id: string; reply: CommandOk }> {
  const id = randomUUID();
  const data = { taskId: id, name: 'add', imageUrl: 'registry.example/add:1', start: true, propletSelector: { matchLabels: { pool } } };
  const reply = await sendCommand(w.nc, w.names, 'task', 'create', { meta: { correlationId: randomUUID(), issuedAt: new Date().toISOString() }, data }, opts);
  return { id, reply };
}

describe('placement loop', () => {
  it('places a task inside its start command on the leader subject: the reply already holds the TaskScheduled', async () => {
    await w.proplet.register('inline-1', { labels: { pool: 'inline' } });
    await w.loopAt(await w.proplet.health('inline-1', 'healthy'));
    // No routing option: any sender reaches the leader.
    const { id, reply } = await createStarted('inline');
    // Read right after the reply, without waiting: the placement happened before it was sent.
    const events = await w.taskEvents(id);
    expect(events.map((e) => e.type)).toEqual(['TaskCreated', 'TaskScheduled']);
    expect(reply.sequences).toEqual(events.map((e) => e.seq));
    expect(events[1]?.data).toMatchObject({ propletId: 'inline-1', attempt: 1 });
    // The fold sees the started TaskCreated later and must not place the task a second time.
    await w.loopAt(reply.lastSequence);
    expect((await types(id)).filter((t) => t === 'TaskScheduled')).toHaveLength(1);
  });

  it('places a task created and started by a replica that is not the leader when the loop folds its TaskCreated', async () => {
    await w.proplet.register('inline-2', { labels: { pool: 'fold' } });
    await w.loopAt(await w.proplet.health('inline-2', 'healthy'));
    // The queue group, as when no leader answers (a failover): nobody places inside the command.
    const { id, reply } = await createStarted('fold', { leader: false });
    expect(reply.sequences).toHaveLength(1);
    await msUntilScheduled(id, 1, Date.now());
    expect(await types(id)).toEqual(['TaskCreated', 'TaskScheduled']);
  });

  it('moves a silent attempt elsewhere, and fails with "timeout after 2 attempts" when both are silent', async () => {
    await w.proplet.register('silent-a', { labels: { pool: 'timeouts' } });
    await w.proplet.health('silent-a', 'healthy');
    await w.proplet.register('silent-b', { labels: { pool: 'timeouts' } });
    await w.proplet.health('silent-b', 'healthy');
    const id = await createAndStart({ maxAttempts: 2, timeoutMs: 400, propletSelector: { matchLabels: { pool: 'timeouts' } } });
    const first = await w.taskWhen(id, (t) => t.status === 'scheduled' && t.attempt === 1, 'attempt 1 scheduled');
    const second = await w.taskWhen(id, (t) => t.status === 'scheduled' && t.attempt === 2, 'attempt 2 scheduled after the timeout');
    expect(second.propletId).not.toBe(first.propletId);
    const failed = await w.taskWhen(id, (t) => t.status === 'failed', 'failed after two timeouts');
    expect(failed).toMatchObject({ error: 'timeout after 2 attempts', failureReason: 'timeout', attempt: 2 });
    expect(await types(id)).toEqual(['TaskCreated', 'TaskStarted', 'TaskScheduled', 'TaskEvacuated', 'TaskScheduled', 'TaskFailed']);
  });

  it('places an unschedulable task within 1 s of a matching proplet registering, without a second TaskUnschedulable for the same reasons', async () => {
    const id = await createAndStart({ propletSelector: { matchCapabilities: ['sensor'] } });
    const waiting = await w.taskWhen(id, (t) => t.unschedulableReasons !== null, 'unschedulable');
    expect(waiting.status).toBe('pending');
    expect(waiting.unschedulableReasons?.join('\n')).toMatch(/lack capability sensor/);

    // Another proplet without the capability: the reason set is the same, so nothing is recorded.
    await w.proplet.register('no-sensor');
    await w.loopAt(await w.proplet.health('no-sensor', 'healthy'));
    expect((await types(id)).filter((t) => t === 'TaskUnschedulable')).toHaveLength(1);

    await w.proplet.register('esp-sensor', { type: 'external', capabilities: ['wasm', 'sensor'] });
    const since = Date.now();
    await w.proplet.health('esp-sensor', 'healthy');
    expect(await msUntilScheduled(id, 1, since)).toBeLessThan(1000);
    await w.taskWhen(id, (t) => t.status === 'scheduled' && t.propletId === 'esp-sensor', 'scheduled on the sensor proplet');
  });

  it('places a waiting task within 1 s of its proplet recovering, and when a proplet frees capacity', async () => {
    await w.proplet.register('only-one', { maxTasks: 1, labels: { pool: 'small' } });
    await w.proplet.health('only-one', 'healthy');
    const a = await createAndStart({ propletSelector: { matchLabels: { pool: 'small' } } });
    await w.taskWhen(a, (t) => t.status === 'scheduled', 'a scheduled');
    const b = await createAndStart({ propletSelector: { matchLabels: { pool: 'small' } } });
    await w.taskWhen(b, (t) => t.unschedulableReasons !== null, 'b unschedulable (the proplet is full)');

    let since = Date.now();
    await w.send('task.recordResult', { taskId: a, wireId: a, results: 'done' });
    expect(await msUntilScheduled(b, 1, since)).toBeLessThan(1000);

    await w.send('task.stop', { taskId: b });
    await w.proplet.health('only-one', 'offline');
    const c = await createAndStart({ propletSelector: { matchLabels: { pool: 'small' } } });
    await w.taskWhen(c, (t) => t.unschedulableReasons !== null, 'c unschedulable (the proplet is offline)');
    since = Date.now();
    await w.proplet.health('only-one', 'healthy');
    expect(await msUntilScheduled(c, 1, since)).toBeLessThan(1000);
  });

  it('moves the tasks of a failed proplet back to pending and places them elsewhere, unless its site is paused', async () => {
    await w.proplet.register('site-a-1', { labels: { pool: 'evac', 'propeller.io/site': 'site-a' } });
    await w.proplet.health('site-a-1', 'healthy');
    const id = await createAndStart({ propletSelector: { matchLabels: { pool: 'evac' } } });
    await w.taskWhen(id, (t) => t.status === 'scheduled' && t.propletId === 'site-a-1', 'scheduled on site-a-1');
    await w.proplet.register('site-b-1', { labels: { pool: 'evac', 'propeller.io/site': 'site-b' } });
    await w.proplet.health('site-b-1', 'healthy');

    // Site a is paused by the breaker: its failed proplet keeps its task.
    await w.site.pause('site-a');
    await w.loopAt(await w.proplet.health('site-a-1', 'failed'));
    expect(await types(id)).not.toContain('TaskEvacuated');

    // Resumed: the task moves, attempt + 1, to the other site.
    await w.site.resume('site-a');
    const moved = await w.taskWhen(id, (t) => t.status === 'scheduled' && t.attempt === 2, 'attempt 2 scheduled elsewhere');
    expect(moved.propletId).toBe('site-b-1');
  });

  it('keeps a task pinned to a failed proplet pending with that reason', async () => {
    await w.proplet.register('pinned-to');
    await w.proplet.health('pinned-to', 'healthy');
    const id = await createAndStart({ propletSelector: { propletId: 'pinned-to' } });
    await w.taskWhen(id, (t) => t.status === 'scheduled', 'scheduled on its pin');
    await w.proplet.health('pinned-to', 'failed');
    const waiting = await w.taskWhen(id, (t) => t.status === 'pending' && t.attempt === 2 && t.unschedulableReasons !== null, 'pending on its failed pin');
    expect(waiting.unschedulableReasons?.join('\n')).toMatch(/pinned-to/);
  });

  it('moves the tasks of a deregistered proplet at once', async () => {
    await w.proplet.register('leaving', { labels: { pool: 'dereg' } });
    await w.proplet.health('leaving', 'healthy');
    const id = await createAndStart({ propletSelector: { matchLabels: { pool: 'dereg' } } });
    await w.taskWhen(id, (t) => t.status === 'scheduled' && t.propletId === 'leaving', 'scheduled on the leaving proplet');
    await w.proplet.register('staying', { labels: { pool: 'dereg' } });
    await w.proplet.health('staying', 'healthy');
    await w.proplet.deregister('leaving');
    const moved = await w.taskWhen(id, (t) => t.status === 'scheduled' && t.attempt === 2, 'attempt 2 scheduled');
    expect(moved.propletId).toBe('staying');
    const evacuated = (await w.taskEvents(id)).find((e) => e.type === 'TaskEvacuated');
    expect(evacuated?.data).toMatchObject({ fromPropletId: 'leaving', attempt: 1, reason: expect.stringMatching(/deregistered/) });
  });

  it('keeps two WAMR devices heard on one channel from taking work, and uses a WAMR device alone on its channel', async () => {
    const kv = await new Kvm(w.nc).open(w.names.kv.liveness);
    const alive = (id: string) => kv.put(livenessKey(id), JSON.stringify({ status: 'alive', at: new Date().toISOString(), source: 'heartbeat', writer: 'test' }));
    const esp32 = (channelId: string) => ({
      type: 'external' as const,
      deviceType: 'esp32-wamr-test',
      dialect: 'wamr' as const,
      channel: { domainId: 'propeller', channelId, layout: 'messages' as const, perPropletTopics: true },
    });
    for (const id of ['esp-a', 'esp-b']) {
      await w.proplet.register(id, esp32('shared-ch'));
      await w.proplet.health(id, 'healthy');
      await alive(id);
    }
    await waitFor(() => w.scheduler.loop.heardAt('esp-a') !== undefined && w.scheduler.loop.heardAt('esp-b') !== undefined, 'the loop to hear both devices');
    const id = await createAndStart({ inputs: [1, 2], propletSelector: { matchDeviceTypes: ['esp32-wamr-test'] } });
    const waiting = await w.taskWhen(id, (t) => t.unschedulableReasons !== null, 'unschedulable');
    expect(waiting.unschedulableReasons?.join('\n')).toMatch(/channel/);

    await w.proplet.register('esp-solo', esp32('solo-ch'));
    await alive('esp-solo');
    await w.proplet.health('esp-solo', 'healthy');
    await w.taskWhen(id, (t) => t.status === 'scheduled' && t.propletId === 'esp-solo', 'scheduled on the device alone on its channel');
  });
});
