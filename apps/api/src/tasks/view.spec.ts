import { createHash } from 'node:crypto';
import { isInvalid, type TaskStatus } from '@propeller/events';
import type { TaskView } from '@propeller/read-models';
import { checkUpload, isModuleTooLarge } from './module';
import { CreateTaskBodySchema, parseDurationMs, UpdateTaskBodySchema } from './schemas';
import { createTaskData, taskIdForKey, taskJson, updateTaskData } from './view';

const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';
const ID = '6f1c1a52-8a6e-4d55-9d7a-0b1f3c7e2a10';

/** A read-model task with every field set; override what the case is about. */
const view = (over: Partial<TaskView> = {}): TaskView => ({
  id: ID,
  name: 'add',
  functionName: 'add',
  module: { digest: `sha256:${'a'.repeat(64)}`, size: 41, source: 'inline' },
  imageUrl: null,
  inputs: [2, 3],
  cliArgs: [],
  env: {},
  daemon: false,
  propletSelector: { propletId: 'rpi-1', matchCapabilities: ['sensor'] },
  preferredPropletType: 'external',
  resourceRequirements: { cpu: '500m' },
  maxAttempts: 3,
  timeoutMs: 600_000,
  labels: {},
  owner: null,
  status: 'created',
  attempt: 1,
  propletId: null,
  wireId: null,
  results: null,
  error: null,
  failureReason: null,
  unschedulableReasons: null,
  explanation: null,
  createdAt: '2026-11-27T13:00:00.000Z',
  updatedAt: '2026-11-27T13:00:00.000Z',
  startedAt: null,
  scheduledAt: null,
  runningAt: null,
  finishedAt: null,
  seq: 7,
  ...over,
});

describe('taskJson', () => {
  it.each<[TaskStatus, number]>([
    ['created', 0],
    ['pending', 0],
    ['scheduled', 1],
    ['running', 2],
    ['completed', 3],
    ['failed', 4],
    ['stopped', 6],
  ])("gives %s upstream's numeric state %i", (status, state) => {
    expect(taskJson(view({ status }))).toMatchObject({ status, state });
  });

  it('writes the selector in snake_case with only the rules that are set, and upstream time aliases', () => {
    const t = taskJson(view({ runningAt: '2026-11-27T13:00:05.000Z', finishedAt: '2026-11-27T13:00:06.000Z' }));
    expect(t.proplet_selector).toEqual({ proplet_id: 'rpi-1', match_capabilities: ['sensor'] });
    expect(t).toMatchObject({ preferred_proplet_type: 'external', resource_requirements: { cpu: '500m' }, start_time: '2026-11-27T13:00:05.000Z', finish_time: '2026-11-27T13:00:06.000Z' });
  });
});

describe('request → command data', () => {
  it('sends only what the client gave, so the scheduler defaults apply; top-level proplet_id becomes the pin', () => {
    const body = CreateTaskBodySchema.parse({ name: 'add', image_url: 'https://x.test/a.wasm', proplet_id: 'esp-1', proplet_selector: { match_device_types: ['esp32'] }, timeout: '1m30s', start: true });
    expect(createTaskData(ID, body)).toEqual({
      taskId: ID,
      name: 'add',
      imageUrl: 'https://x.test/a.wasm',
      propletSelector: { propletId: 'esp-1', matchDeviceTypes: ['esp32'] },
      timeoutMs: 90_000,
    });
  });

  it('a new file on update clears image_url, a new image_url clears the module, and timeout null means none', () => {
    const ref = { digest: `sha256:${'b'.repeat(64)}`, size: 41, source: 'inline' as const };
    expect(updateTaskData(ID, UpdateTaskBodySchema.parse({ file: ADD_WASM }), ref)).toEqual({ taskId: ID, module: ref, imageUrl: null });
    expect(updateTaskData(ID, UpdateTaskBodySchema.parse({ image_url: 'https://x.test/b.wasm', timeout: null }))).toEqual({
      taskId: ID,
      imageUrl: 'https://x.test/b.wasm',
      module: null,
      timeoutMs: null,
    });
  });

  it('makes the same task id for the same Idempotency-Key, another for another key or batch index', () => {
    expect(taskIdForKey('k1')).toBe(taskIdForKey('k1'));
    expect(taskIdForKey('k1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set([taskIdForKey('k1'), taskIdForKey('k2'), taskIdForKey('k1', 0), taskIdForKey('k1', 1)]).size).toBe(4);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['1500ms', 1500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2.5s', 2500],
    ['1d', 86_400_000],
  ])('reads %s as %i ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(['', '30', 's', '10 m', '-5s', 'soon', '1h 30m'])('refuses %j', (text) => expect(parseDurationMs(text)).toBeUndefined());
});

describe('checkUpload', () => {
  it('accepts a valid module and gives its sha256 digest and size', () => {
    expect(checkUpload(ADD_WASM).ref).toEqual({ digest: 'sha256:' + createHash('sha256').update(Buffer.from(ADD_WASM, 'base64')).digest('hex'), size: 41, source: 'inline' });
  });

  it('refuses a module over the limit as moduleTooLarge, before decoding', () => {
    const e = (() => {
      try {
        checkUpload(ADD_WASM, 40, 'tasks.2.file');
      } catch (x) {
        return x;
      }
      throw new Error('no error');
    })();
    expect(isModuleTooLarge(e)).toBe(true);
    expect((e as { details: unknown }).details).toMatchObject({ sizeBytes: 41, limitBytes: 40, issues: [{ field: 'tasks.2.file' }] });
  });

  it.each([
    ['not base64', 'not base64!', 'must be standard base64'],
    ['not Wasm', Buffer.from('hello world!').toString('base64'), 'Wasm magic'],
    ['Wasm magic with a broken body', Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x01, 0x05]).toString('base64'), 'WebAssembly.validate'],
  ])('refuses %s naming the rule', (_what, file, rule) => {
    let caught: unknown;
    try {
      checkUpload(file);
    } catch (e) {
      caught = e;
    }
    expect(isInvalid(caught)).toBe(true);
    expect(isModuleTooLarge(caught)).toBe(false);
    expect((caught as Error).message).toContain(rule);
  });
});
