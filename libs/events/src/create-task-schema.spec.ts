import { z } from 'zod';
import { CreateTaskSchema, TaskIdSchema, TaskSpecSchema, parseCommand } from './index';

// What `task.create` parsed with before: the same fields as an intersection.
const intersection = z.intersection(z.object({ taskId: TaskIdSchema, start: z.boolean().optional() }), TaskSpecSchema);

const T = '3f1c2b7a-8d4e-4b6f-9a0c-1d2e3f4a5b6c';
const moduleRef = { digest: `sha256:${'ab'.repeat(32)}`, size: 41, source: 'inline' };

const valid: Record<string, unknown> = {
  minimal: { taskId: T, name: 'add', imageUrl: 'registry/x:1' },
  'started, with a module and inputs': { taskId: T, name: 'add', module: moduleRef, inputs: ['1', '2'], start: true },
  'a daemon without a timeout': { taskId: T, name: 'serve', imageUrl: 'x', daemon: true },
  'every field': {
    taskId: T,
    start: false,
    name: 'add',
    functionName: 'main',
    imageUrl: 'x',
    cliArgs: ['-v'],
    env: { A: '1' },
    propletSelector: { propletId: 'rpi-1' },
    preferredPropletType: 'any',
    resourceRequirements: {},
    maxAttempts: 5,
    timeoutMs: null,
    labels: { team: 'a' },
    owner: { namespace: 'ns', name: 'n', uid: 'u' },
  },
  'an unknown field (dropped)': { taskId: T, name: 'add', imageUrl: 'x', colour: 'red' },
};

const invalid: Record<string, unknown> = {
  'no taskId': { name: 'add', imageUrl: 'x' },
  'a taskId that is not a uuid': { taskId: 'x', name: 'add', imageUrl: 'x' },
  'both module and imageUrl': { taskId: T, name: 'add', module: moduleRef, imageUrl: 'x' },
  'an empty name': { taskId: T, name: '', imageUrl: 'x' },
  'start not a boolean': { taskId: T, name: 'add', imageUrl: 'x', start: 'yes' },
  'maxAttempts 0': { taskId: T, name: 'add', imageUrl: 'x', maxAttempts: 0 },
  'not an object': 'add',
  'a bad taskId and both sources': { taskId: 'x', name: 'add', module: moduleRef, imageUrl: 'x' },
};

// Distinct issues: for a non-object the intersection named the same one twice (once per side).
const issues = (r: { success: boolean; error?: z.ZodError }) => [...new Set((r.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`))].sort();

describe('CreateTaskSchema (task.create data)', () => {
  it.each(Object.entries(valid))('parses %s to what the intersection gave, keys in the same order', (_name, raw) => {
    const mine = CreateTaskSchema.parse(raw);
    const before = intersection.parse(raw);
    expect(mine).toStrictEqual(before);
    expect(Object.keys(mine)).toEqual(Object.keys(before));
  });

  it.each(Object.entries(invalid))('refuses %s with the fields the intersection named', (_name, raw) => {
    const mine = CreateTaskSchema.safeParse(raw);
    const before = intersection.safeParse(raw);
    expect(mine.success).toBe(false);
    expect(before.success).toBe(false);
    expect(issues(mine)).toEqual(issues(before));
  });

  it('is what parseCommand uses for task.create', () => {
    const c = parseCommand('task.create', { meta: { issuedAt: '2025-06-01T08:00:00Z', correlationId: 'c' }, data: { taskId: T, name: 'add', imageUrl: 'x' } });
    expect(c.data).toStrictEqual(intersection.parse({ taskId: T, name: 'add', imageUrl: 'x' }));
  });
});
