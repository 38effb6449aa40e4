import { createHash, randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { StoredEnvelope } from '@propeller/events';
import { EventStore, publishDeadLetter, replayDeadLetter } from '@propeller/eventstore';
import { testEnvelope, waitFor } from '@propeller/eventstore/testing';
import { buildApi } from './app';
import { openApiPath } from './openapi';
import { serveAdminRequests } from '@propeller/eventstore';
import { taskIdForKey } from './tasks/view';
import { testLogger } from './testing';
import { ADD_WASM, openTasksWorld, paddedWasm, type TasksWorld } from './testing/tasks-world';

// The tasks half of the REST API against the real NATS and Postgres, with the real registry and the
// real scheduler in-process on this file's own prefix and schema, and the API on port 0. The test
// plays the health judge (so a registered proplet becomes healthy and placement can happen) and, where
// a task must finish, the gateway (it sends the result command a device's message would cause).

/** MODULE_MAX_BYTES of this file: small, so the 413 needs no 16 MiB upload. */
const MODULE_MAX = 4096;

const addTask = (over: Record<string, unknown> = {}) => ({ name: 'add', file: ADD_WASM, inputs: [2, 3], ...over });

describe('REST tasks API', () => {
  let w: TasksWorld;

  beforeAll(async () => {
    w = await openTasksWorld({ config: { api: { readYourWritesTimeout: 2000 }, moduleMaxBytes: MODULE_MAX } });
    await w.healthyProplet('k8s-1');
  });

  afterAll(async () => {
    await w?.close();
  });

  const taskWhen = async (id: string, until: (t: Record<string, unknown>) => boolean, what: string) => {
    let last: Record<string, unknown> | undefined;
    await waitFor(async () => {
      last = (await w.http('GET', `/tasks/${id}`)).body;
      return last !== undefined && until(last);
    }, `task ${id}: ${what}`);
    return last as Record<string, unknown>;
  };

  describe('POST /tasks', () => {
    it('creates a task: 201 with Location, snake_case, status created and upstream state 0; the module is stored by digest', async () => {
      const res = await w.http('POST', '/tasks', addTask({ cli_args: ['--x'], env: { A: '1' }, labels: { team: 'edge' }, timeout: '30s', max_attempts: 2 }));
      expect(res.status).toBe(201);
      const id = res.body.id as string;
      expect(res.headers.get('location')).toBe(`/tasks/${id}`);
      const digest = `sha256:${createHash('sha256').update(Buffer.from(ADD_WASM, 'base64')).digest('hex')}`;
      expect(res.body).toMatchObject({
        id,
        name: 'add',
        function_name: 'add',
        status: 'created',
        state: 0,
        module: { digest, size: 41, source: 'inline' },
        image_url: null,
        inputs: [2, 3],
        cli_args: ['--x'],
        env: { A: '1' },
        daemon: false,
        proplet_id: null,
        proplet_selector: {},
        preferred_proplet_type: 'any',
        resource_requirements: {},
        max_attempts: 2,
        timeout_ms: 30_000,
        labels: { team: 'edge' },
        attempt: expect.any(Number),
        results: null,
        error: null,
      });
      // Read your writes: the very next read shows it.
      expect((await w.http('GET', res.headers.get('location') as string)).body).toMatchObject({ id, status: 'created' });
      // The bytes went to the module store once, not into the event.
      const stored = await (await new Objm(w.nc).open(w.names.modules)).info(digest);
      expect(stored?.size).toBe(41);
      const created = (await eventsOf(id)).find((e) => e.type === 'TaskCreated');
      expect(JSON.stringify(created?.data)).not.toContain(ADD_WASM);
    });

    it('accepts image_url, the top-level proplet_id pin, a selector, a preference and resource requirements', async () => {
      const res = await w.http('POST', '/tasks', {
        name: 'sense',
        function_name: 'main',
        image_url: 'https://example.test/sense.wasm',
        proplet_id: 'esp-9',
        proplet_selector: { match_types: ['external'], match_capabilities: ['sensor'], match_labels: { zone: 'north' } },
        preferred_proplet_type: 'external',
        resource_requirements: { cpu: '500m', memory: '64Mi' },
        daemon: true,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        function_name: 'main',
        module: null,
        image_url: 'https://example.test/sense.wasm',
        proplet_selector: { proplet_id: 'esp-9', match_types: ['external'], match_capabilities: ['sensor'], match_labels: { zone: 'north' } },
        preferred_proplet_type: 'external',
        resource_requirements: { cpu: '500m', memory: '64Mi' },
        daemon: true,
        timeout_ms: null,
      });
    });

    it('with Idempotency-Key the id is a UUIDv5 of the key and a retry creates nothing twice', async () => {
      const key = `retry-${randomUUID()}`;
      const first = await w.http('POST', '/tasks', addTask(), { 'idempotency-key': key });
      const again = await w.http('POST', '/tasks', addTask(), { 'idempotency-key': key });
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(first.body.id).toBe(taskIdForKey(key));
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect((await eventsOf(first.body.id)).map((e) => e.type)).toEqual(['TaskCreated']);
      // The same key with another body is a conflict, not a silent second task.
      const other = await w.http('POST', '/tasks', addTask({ inputs: [7, 7] }), { 'idempotency-key': key });
      expect(other.status).toBe(409);
      expect(other.body.error.code).toBe('Conflict');
    });

    it('"start": true starts it at once: it is placed on the healthy proplet', async () => {
      const res = await w.http('POST', '/tasks', addTask({ start: true }));
      expect(res.status).toBe(201);
      expect(['pending', 'scheduled']).toContain(res.body.status);
      const t = await taskWhen(res.body.id, (x) => x['status'] === 'scheduled', 'scheduled');
      expect(t).toMatchObject({ state: 1, proplet_id: 'k8s-1', attempt: 1, wire_id: res.body.id });
    });
  });

  describe('validation errors name the field, the value and the rule', () => {
    it('refuses a body without name, with both sources, and with unknown fields', async () => {
      const res = await w.http('POST', '/tasks', { file: ADD_WASM, image_url: 'https://x.test/a.wasm', colour: 'red' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('Invalid');
      expect(res.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'name', rule: expect.any(String) },
          { field: 'colour', value: 'red', rule: expect.stringMatching(/^is not a known field \(allowed: name, function_name, file, image_url/) },
        ]),
      );
      const neither = await w.http('POST', '/tasks', { name: 'x' });
      expect(neither.status).toBe(400);
      expect(neither.body.error.details.issues).toEqual([{ field: 'file', rule: 'set exactly one of file or image_url' }]);
    });

    it('refuses bad values with the value and the rule', async () => {
      const res = await w.http('POST', '/tasks', addTask({ timeout: 'soon', max_attempts: 0, inputs: [true], preferred_proplet_type: 'gpu', resource_requirements: { cpu: 'lots' } }));
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'timeout', value: 'soon', rule: expect.stringContaining('must be a duration such as 30s') },
          { field: 'max_attempts', value: 0, rule: 'must be an integer from 1 to 100' },
          { field: 'inputs.0', value: true, rule: 'must be a string or a number' },
          { field: 'preferred_proplet_type', value: 'gpu', rule: expect.any(String) },
          { field: 'resource_requirements.cpu', value: 'lots', rule: expect.stringContaining('Kubernetes quantity') },
        ]),
      );
      expect(res.body.error.message).toContain('timeout');
    });

    it('refuses a file that is not Wasm, conflicting pins, a bad Idempotency-Key and a path id that is not a UUID', async () => {
      const notWasm = await w.http('POST', '/tasks', addTask({ file: Buffer.from('hello world!').toString('base64') }));
      expect(notWasm.status).toBe(400);
      expect(notWasm.body.error.details.issues).toEqual([{ field: 'file', value: '<12 bytes>', rule: 'must start with the Wasm magic \\0asm' }]);

      const pins = await w.http('POST', '/tasks', addTask({ proplet_id: 'a', proplet_selector: { proplet_id: 'b' } }));
      expect(pins.status).toBe(400);
      expect(pins.body.error.details.issues).toEqual([{ field: 'proplet_id', value: 'a', rule: 'must equal proplet_selector.proplet_id when both are set' }]);

      const key = await w.http('POST', '/tasks', addTask(), { 'idempotency-key': 'x'.repeat(300) });
      expect(key.status).toBe(400);
      expect(key.body.error.details.issues[0]).toMatchObject({ field: 'Idempotency-Key', rule: 'must be 1-255 printable ASCII characters' });

      const path = await w.http('GET', '/tasks/not-a-uuid');
      expect(path.status).toBe(400);
      expect(path.body.error.details.issues).toEqual([{ field: 'id', value: 'not-a-uuid', rule: 'must be a task id (a UUID)' }]);
    });

    it('answers 413 for a module over MODULE_MAX_BYTES (naming size and limit) and for a body over the route limit', async () => {
      const big = paddedWasm(MODULE_MAX + 100);
      const res = await w.http('POST', '/tasks', addTask({ file: big.toString('base64') }));
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({
        code: 'Invalid',
        details: { reason: 'moduleTooLarge', sizeBytes: big.length, limitBytes: MODULE_MAX, issues: [{ field: 'file', rule: expect.stringContaining(`at most ${MODULE_MAX} bytes`) }] },
      });
      // Just under the limit is fine: the check is the limit, not a rough guess.
      expect((await w.http('POST', '/tasks', addTask({ file: paddedWasm(MODULE_MAX).toString('base64') }))).status).toBe(201);

      const huge = await w.http('POST', '/tasks', addTask({ labels: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
      expect(huge.status).toBe(413);
      expect(huge.body.error.details.issues).toEqual([{ field: 'body', rule: expect.stringContaining('must be at most the body limit') }]);
    });
  });

  describe('module uploads larger than one NATS message', () => {
    it('stores a 2 MiB module by digest and creates the task referring to it (the command carries only the digest)', async () => {
      // Another API on the same world, with room for 4 MiB modules (this file's API allows 4 KiB).
      const roomy = buildApi({ db: w.db, nc: w.nc, names: w.names, config: { api: { readYourWritesTimeout: 2000 }, moduleMaxBytes: 4 * 1024 * 1024 }, logger: testLogger() });
      try {
        const port = await roomy.listen(0, '127.0.0.1');
        const module = paddedWasm(2 * 1024 * 1024);
        expect(module.length).toBeGreaterThan(w.nc.info?.max_payload ?? 1024 * 1024);
        const res = await fetch(`http://127.0.0.1:${port}/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(addTask({ file: module.toString('base64') })) });
        expect(res.status).toBe(201);
        const body = (await res.json()) as { id: string; module: { digest: string; size: number } };
        const digest = `sha256:${createHash('sha256').update(module).digest('hex')}`;
        expect(body.module).toEqual({ digest, size: module.length, source: 'inline' });
        const stored = await (await new Objm(w.nc).open(w.names.modules)).getBlob(digest);
        expect(stored === null ? null : createHash('sha256').update(stored).digest('hex')).toBe(digest.slice('sha256:'.length));
      } finally {
        await roomy.close();
      }
    });
  });

  describe('POST /tasks/batch', () => {
    it('creates up to 100 tasks in request order, keyed <key>/<i> with Idempotency-Key', async () => {
      const key = `batch-${randomUUID()}`;
      const body = { tasks: [addTask({ labels: { batch: key } }), addTask({ labels: { batch: key }, start: true }), { name: 'u', image_url: 'https://x.test/u.wasm', labels: { batch: key } }] };
      const res = await w.http('POST', '/tasks/batch', body, { 'idempotency-key': key });
      expect(res.status).toBe(201);
      expect(res.body.tasks.map((t: { id: string }) => t.id)).toEqual([0, 1, 2].map((i) => taskIdForKey(key, i)));
      expect(res.body.tasks[1].status).not.toBe('created');
      expect(res.body.tasks[2]).toMatchObject({ image_url: 'https://x.test/u.wasm', status: 'created' });
      // A retry of the whole batch creates nothing new.
      const again = await w.http('POST', '/tasks/batch', body, { 'idempotency-key': key });
      expect(again.status).toBe(201);
      const listed = await w.http('GET', '/tasks?limit=1000');
      expect(listed.body.tasks.filter((t: { labels: Record<string, string> }) => t.labels['batch'] === key)).toHaveLength(3);
      // The same key with item 2 changed: that item is a conflict, and the error names it.
      const changed = await w.http('POST', '/tasks/batch', { tasks: [body.tasks[0], body.tasks[1], { ...body.tasks[2], image_url: 'https://x.test/other.wasm' }] }, { 'idempotency-key': key });
      expect(changed.status).toBe(409);
      expect(changed.body.error.details).toMatchObject({ index: 2, taskId: taskIdForKey(key, 2) });
    });

    it('sends the creates of a batch to the scheduler in one message', async () => {
      const seen: string[] = [];
      // Plain subscriptions (no queue group) see every request on both command subjects without answering.
      const subs = [w.names.leaderCommandSubject('task', 'create'), w.names.commandSubject('task', 'create')].map((subject) =>
        w.nc.subscribe(subject, {
          callback: (_e, m) => {
            seen.push(m.subject);
          },
        }),
      );
      await w.nc.flush();
      try {
        const res = await w.http('POST', '/tasks/batch', { tasks: Array.from({ length: 20 }, () => addTask({ start: true })) });
        expect(res.status).toBe(201);
        expect(res.body.tasks).toHaveLength(20);
        expect(seen).toHaveLength(1);
      } finally {
        for (const s of subs) s.unsubscribe();
      }
    });

    it('validates every item before creating any, and refuses more than 100', async () => {
      const before = (await w.http('GET', '/tasks?limit=1')).body.total as number;
      const res = await w.http('POST', '/tasks/batch', { tasks: [addTask(), { name: '', file: ADD_WASM }, addTask({ file: 'not base64!' })] });
      expect(res.status).toBe(400);
      expect(res.body.error.details.issues).toEqual([{ field: 'tasks.1.name', value: '', rule: 'must be a non-empty string' }]);
      const badModule = await w.http('POST', '/tasks/batch', { tasks: [addTask(), addTask({ file: 'bm90IHdhc20h' })] });
      expect(badModule.status).toBe(400);
      expect(badModule.body.error.details.issues[0]).toMatchObject({ field: 'tasks.1.file' });
      expect((await w.http('GET', '/tasks?limit=1')).body.total).toBe(before);

      const tooMany = await w.http('POST', '/tasks/batch', { tasks: Array.from({ length: 101 }, () => ({ name: 'x', image_url: 'https://x.test/x.wasm' })) });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error.details.issues).toEqual([{ field: 'tasks', value: expect.any(Array), rule: 'must hold 1 to 100 tasks' }]);
    });
  });

  describe('lifecycle through the REST API', () => {
    it('PUT changes a task while not started, and answers 409 once it has started', async () => {
      const id = (await w.http('POST', '/tasks', addTask())).body.id as string;
      const put = await w.http('PUT', `/tasks/${id}`, { inputs: ['10', '32'], timeout: null, image_url: 'https://x.test/v2.wasm' });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ id, inputs: ['10', '32'], timeout_ms: null, image_url: 'https://x.test/v2.wasm', module: null, status: 'created' });
      expect((await w.http('PUT', `/tasks/${id}`, {})).status).toBe(400);

      expect((await w.http('POST', `/tasks/${id}/start`)).status).toBe(200);
      const late = await w.http('PUT', `/tasks/${id}`, { inputs: [1, 1] });
      expect(late.status).toBe(409);
      expect(late.body.error).toMatchObject({ code: 'Conflict', message: expect.stringContaining('not been started') });
    });

    it('start places the task (scheduled on the registered proplet, state 1); a task no proplet matches waits pending with its reasons', async () => {
      const id = (await w.http('POST', '/tasks', addTask())).body.id as string;
      const started = await w.http('POST', `/tasks/${id}/start`);
      expect(started.status).toBe(200);
      expect(['pending', 'scheduled']).toContain(started.body.status);
      expect(started.body.started_at).toEqual(expect.any(String));
      const t = await taskWhen(id, (x) => x['status'] === 'scheduled', 'scheduled');
      expect(t).toMatchObject({ state: 1, proplet_id: 'k8s-1', explanation: expect.any(String), scheduled_at: expect.any(String) });
      // Starting again changes nothing.
      expect((await w.http('POST', `/tasks/${id}/start`)).body.status).toBe('scheduled');

      const lonely = (await w.http('POST', '/tasks', addTask({ proplet_selector: { match_capabilities: ['gpu'] }, start: true }))).body.id as string;
      const waiting = await taskWhen(lonely, (x) => Array.isArray(x['unschedulable_reasons']), 'unschedulable reasons');
      expect(waiting).toMatchObject({ status: 'pending', state: 0, proplet_id: null });
      expect((waiting['unschedulable_reasons'] as string[]).join(' ')).toContain('gpu');
    });

    it('a result completes the task: GET results returns it, GET events is the timeline', async () => {
      const id = (await w.http('POST', '/tasks', addTask({ start: true }))).body.id as string;
      await taskWhen(id, (x) => x['status'] === 'scheduled', 'scheduled');
      // What the gateway sends when the broker accepted the start and the proplet answered.
      await w.command('task.recordDispatched', { taskId: id, wireId: id, propletId: 'k8s-1' });
      await w.command('task.recordResult', { taskId: id, wireId: id, propletId: 'k8s-1', results: '5' });
      await taskWhen(id, (x) => x['status'] === 'completed', 'completed');

      const results = await w.http('GET', `/tasks/${id}/results`);
      expect(results.status).toBe(200);
      expect(results.body).toEqual({ task_id: id, status: 'completed', state: 3, results: '5', error: null, failure_reason: null, proplet_id: 'k8s-1', attempt: 1, finished_at: expect.any(String) });

      const events = await w.http('GET', `/tasks/${id}/events`);
      expect(events.status).toBe(200);
      // Created with start: true, so one TaskCreated that says it was started too: four events in all.
      expect(events.body).toMatchObject({ task_id: id, offset: 0, total: 4 });
      expect(events.body.events.map((e: { type: string }) => e.type)).toEqual(['TaskCreated', 'TaskScheduled', 'TaskRunning', 'TaskCompleted']);
      const seqs = events.body.events.map((e: { seq: number }) => e.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      expect(events.body.events[0]).toMatchObject({ summary: expect.stringContaining('and started') });
      expect(events.body.events[1]).toMatchObject({ summary: expect.stringContaining('k8s-1'), at: expect.any(String) });
      expect((await w.http('GET', `/tasks/${id}/events?offset=2&limit=1`)).body.events.map((e: { type: string }) => e.type)).toEqual(['TaskRunning']);

      // Stopping a finished task is refused.
      const stop = await w.http('POST', `/tasks/${id}/stop`);
      expect(stop.status).toBe(409);
    });

    it('a failed result shows its error in GET results with state 4', async () => {
      const id = (await w.http('POST', '/tasks', addTask({ start: true }))).body.id as string;
      await taskWhen(id, (x) => x['status'] === 'scheduled', 'scheduled');
      await w.command('task.recordResult', { taskId: id, wireId: id, propletId: 'k8s-1', results: null, error: 'trap: unreachable' });
      await taskWhen(id, (x) => x['status'] === 'failed', 'failed');
      expect((await w.http('GET', `/tasks/${id}/results`)).body).toMatchObject({ status: 'failed', state: 4, error: 'trap: unreachable', failure_reason: 'error' });
    });

    it('stop ends a scheduled task (state 6) and a second stop changes nothing', async () => {
      const id = (await w.http('POST', '/tasks', addTask({ start: true }))).body.id as string;
      await taskWhen(id, (x) => x['status'] === 'scheduled', 'scheduled');
      const stop = await w.http('POST', `/tasks/${id}/stop`, { reason: 'operator changed their mind' });
      expect(stop.status).toBe(200);
      expect(stop.body).toMatchObject({ id, status: 'stopped', state: 6, finished_at: expect.any(String) });
      expect((await w.http('POST', `/tasks/${id}/stop`)).body.status).toBe('stopped');
      const types = (await w.http('GET', `/tasks/${id}/events`)).body.events.map((e: { type: string }) => e.type);
      expect(types.filter((t: string) => t === 'TaskStopped')).toHaveLength(1);
    });

    it('DELETE removes the task: 204, then 404 on GET, results and events', async () => {
      const id = (await w.http('POST', '/tasks', addTask())).body.id as string;
      const del = await w.http('DELETE', `/tasks/${id}`);
      expect(del.status).toBe(204);
      expect((await w.http('GET', `/tasks/${id}`)).status).toBe(404);
      expect((await w.http('GET', `/tasks/${id}/results`)).body.error).toMatchObject({ code: 'NotFound', details: { taskId: id } });
      expect((await w.http('GET', `/tasks/${id}/events`)).status).toBe(404);
      expect((await w.http('POST', `/tasks/${id}/start`)).status).toBe(404);
      expect((await w.http('GET', `/tasks/${randomUUID()}`)).status).toBe(404);
      expect((await w.http('DELETE', `/tasks/${randomUUID()}`)).status).toBe(404);
    });
  });

  describe('DELETE /proplets/{id}', () => {
    it('answers 409 while the proplet has unfinished tasks, and deletes it once they are done', async () => {
      await w.healthyProplet('busy-1', { labels: { pool: 'busy' } });
      const id = (await w.http('POST', '/tasks', addTask({ proplet_id: 'busy-1', start: true }))).body.id as string;
      await taskWhen(id, (x) => x['status'] === 'scheduled' && x['proplet_id'] === 'busy-1', 'scheduled on busy-1');

      const refused = await w.http('DELETE', '/proplets/busy-1');
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'Conflict', message: expect.stringContaining('1 unfinished task'), details: { propletId: 'busy-1', unfinishedTasks: 1 } });
      expect((await w.http('GET', '/proplets/busy-1')).status).toBe(200);

      expect((await w.http('POST', `/tasks/${id}/stop`)).status).toBe(200);
      expect((await w.http('DELETE', '/proplets/busy-1')).status).toBe(204);
      expect((await w.http('GET', '/proplets/busy-1')).status).toBe(404);
    });
  });

  describe('GET /tasks', () => {
    it('filters by status and proplet_id and pages with {offset, limit, total, tasks}', async () => {
      await w.healthyProplet('list-1');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await w.http('POST', '/tasks', addTask({ proplet_id: 'list-1', start: true }))).body.id);
      for (const id of ids) await taskWhen(id, (x) => x['status'] === 'scheduled', 'scheduled on list-1');

      const on = await w.http('GET', '/tasks?proplet_id=list-1');
      expect(on.status).toBe(200);
      expect(on.body).toMatchObject({ offset: 0, limit: 100, total: 3 });
      expect(on.body.tasks.map((t: { id: string }) => t.id)).toEqual(ids);

      const page = await w.http('GET', '/tasks?proplet_id=list-1&status=scheduled&status=running&offset=1&limit=1');
      expect(page.body).toMatchObject({ offset: 1, limit: 1, total: 3 });
      expect(page.body.tasks.map((t: { id: string }) => t.id)).toEqual([ids[1]]);
      expect((await w.http('GET', '/tasks?proplet_id=list-1&status=completed')).body.total).toBe(0);

      const bad = await w.http('GET', '/tasks?status=done&limit=0&propletid=x');
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.issues).toEqual(
        expect.arrayContaining([
          { field: 'status', value: 'done', rule: expect.stringContaining('must be one of created, pending') },
          { field: 'limit', value: '0', rule: 'must be an integer from 1 to 1000' },
          { field: 'propletid', value: 'x', rule: expect.stringContaining('is not a known field') },
        ]),
      );
      for (const id of ids) await w.http('POST', `/tasks/${id}/stop`);
    });
  });

  describe('GET /tasks/{id}/metrics', () => {
    it("answers the latest task_metrics of the current attempt's wire id, 404 when there are none", async () => {
      const id = (await w.http('POST', '/tasks', addTask())).body.id as string;
      expect((await w.http('GET', `/tasks/${id}/metrics`)).status).toBe(404);
      const kv = await new Kvm(w.nc).open(w.names.kv.metrics);
      const message = { task_id: id, proplet_id: 'k8s-1', metrics: { cpu_percent: 3.5 }, aggregated: null };
      // The record as the mqtt-gateway writes it, keyed by the wire id the proplet echoed.
      await kv.put(`task.${id}`, JSON.stringify({ kind: 'task_metrics', propletId: 'k8s-1', taskId: id, at: '2026-11-27T13:00:00.000Z', receivedAt: '2026-11-27T13:00:01.000Z', message }));
      const res = await w.http('GET', `/tasks/${id}/metrics`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ...message, wire_id: id, at: '2026-11-27T13:00:00.000Z', received_at: '2026-11-27T13:00:01.000Z' });
    });
  });

  describe('read your writes', () => {
    it('answers 202 with Location while the tasks read model lags, and the write shows once it catches up', async () => {
      await w.scheduler.runner.stop();
      let id: string;
      try {
        const res = await w.http('POST', '/tasks', addTask({ labels: { lag: 'yes' } }));
        expect(res.status).toBe(202);
        id = (res.headers.get('location') as string).split('/').pop() as string;
        expect(res.body).toEqual({ status: 'accepted', location: `/tasks/${id}`, sequence: expect.any(Number) });
        expect((await w.http('GET', `/tasks/${id}`)).status).toBe(404);
      } finally {
        w.scheduler.runner.start();
      }
      await taskWhen(id, (x) => x['status'] === 'created', 'the lagging create to show');
    });
  });

  describe('/metrics', () => {
    it('serves propeller_tasks_total by status from the read model', async () => {
      const text = (await w.http('GET', '/metrics')).body as string;
      const gauge = (status: string) => Number(new RegExp(`^propeller_tasks_total\\{status="${status}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      for (const status of ['created', 'scheduled', 'completed', 'failed', 'stopped']) {
        expect(gauge(status)).toBe((await w.http('GET', `/tasks?status=${status}&limit=1`)).body.total);
      }
      expect(gauge('completed')).toBeGreaterThanOrEqual(1);
      expect(gauge('running')).toBe(0);
    });
  });

  describe('admin', () => {
    it('rebuild answers 503 naming the subject when no service answers, and rebuilds through the lease holder when one does', async () => {
      const none = await w.http('POST', '/admin/projections/nobody_runs_this/rebuild');
      expect(none.status).toBe(503);
      expect(none.body.error).toMatchObject({ code: 'Internal', details: { reason: 'noResponders', subject: `${w.names.prefix}.admin.projections.nobody_runs_this.rebuild` } });

      // The scheduler serves admin requests for the projections it runs (its runner holds the `tasks` lease).
      const before = (await w.http('GET', '/tasks?limit=1000')).body;
      const res = await w.http('POST', '/admin/projections/tasks/rebuild');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ projection: 'tasks', status: 'rebuilding' });
      await waitFor(async () => (await w.http('GET', '/tasks?limit=1000')).body.total === before.total, 'the rebuilt read model to catch up');
      const after = (await w.http('GET', '/tasks?limit=1000')).body;
      const strip = (ts: Array<Record<string, unknown>>) => ts.map(({ id, status, seq, proplet_id }) => ({ id, status, seq, proplet_id }));
      expect(strip(after.tasks)).toEqual(strip(before.tasks));
      expect((await w.http('POST', '/admin/projections/no%20such/rebuild')).status).toBe(400);
    });

    it('lists dead letters and replays one through its consumer, which removes it', async () => {
      const consumer = 'test-reactor';
      const envelope = testEnvelope('task', randomUUID(), { type: 'TaskCreated' }) as StoredEnvelope;
      const dlqSeq = await publishDeadLetter(jetstream(w.nc), w.names, {
        consumer,
        subject: `${w.names.prefix}.events.task.${envelope.aggregateId}`,
        seq: 4242,
        type: 'TaskCreated',
        envelope,
        error: { code: 'Internal', message: 'the reactor broke' },
        attempts: 5,
        deadAt: '2026-11-27T13:00:00.000Z',
      });
      const list = await w.http('GET', `/admin/dlq?consumer=${consumer}`);
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ total: 1 });
      expect(list.body.dead_letters[0]).toEqual({
        consumer,
        seq: dlqSeq,
        event_seq: 4242,
        subject: expect.stringContaining('.events.task.'),
        type: 'TaskCreated',
        aggregate: 'task',
        aggregate_id: envelope.aggregateId,
        error: { code: 'Internal', message: 'the reactor broke' },
        attempts: 5,
        dead_at: '2026-11-27T13:00:00.000Z',
      });
      expect((await w.http('GET', '/admin/dlq')).body.dead_letters.map((d: { seq: number }) => d.seq)).toContain(dlqSeq);

      // No consumer answers yet: 503, and the letter stays.
      expect((await w.http('POST', `/admin/dlq/${consumer}/${dlqSeq}/replay`)).status).toBe(503);
      const handled: string[] = [];
      const stop = serveAdminRequests(w.nc, w.names, {
        replay: { [consumer]: (seq) => replayDeadLetter(w.nc, w.names, consumer, seq, (e) => void handled.push(e.aggregateId)) },
      });
      try {
        expect((await w.http('POST', `/admin/dlq/other/${dlqSeq}/replay`)).status).toBe(404);
        const res = await w.http('POST', `/admin/dlq/${consumer}/${dlqSeq}/replay`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ replayed: true, consumer, seq: dlqSeq });
        expect(handled).toEqual([envelope.aggregateId]);
        expect((await w.http('GET', `/admin/dlq?consumer=${consumer}`)).body.total).toBe(0);
        expect((await w.http('POST', `/admin/dlq/${dlqSeq}/replay`)).status).toBe(404);
      } finally {
        await stop();
      }
    });
  });

  describe('/openapi.json', () => {
    it('documents every registered route, the tasks and admin routes among them', async () => {
      const res = await w.http('GET', '/openapi.json');
      expect(res.status).toBe(200);
      const documented = new Set(Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
      const registered = w.api.registered.map((r) => `${r.method} ${openApiPath(r.url)}`);
      expect(registered.filter((r) => !documented.has(r))).toEqual([]);
      expect([...documented].filter((d) => !registered.includes(d))).toEqual([]);
      expect([...documented]).toEqual(
        expect.arrayContaining([
          'POST /tasks',
          'POST /tasks/batch',
          'GET /tasks',
          'GET /tasks/{id}',
          'PUT /tasks/{id}',
          'DELETE /tasks/{id}',
          'POST /tasks/{id}/start',
          'POST /tasks/{id}/stop',
          'GET /tasks/{id}/results',
          'GET /tasks/{id}/events',
          'GET /tasks/{id}/metrics',
          'GET /admin/dlq',
          'POST /admin/dlq/{consumer}/{seq}/replay',
          'POST /admin/dlq/{seq}/replay',
          'POST /admin/projections/{name}/rebuild',
        ]),
      );
      const create = res.body.paths['/tasks'].post;
      expect(create.requestBody.content['application/json'].schema).toMatchObject({ additionalProperties: false, required: ['name'] });
      expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '202', '400', '409', '413']));
      expect(res.body.paths['/tasks'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['status', 'proplet_id', 'offset', 'limit']);
    });
  });

  /** Every stored event of one task, in order (what the scheduler appended). */
  async function eventsOf(id: string): Promise<StoredEnvelope[]> {
    return (await new EventStore(w.nc, w.names).load('task', id)).events;
  }
});
