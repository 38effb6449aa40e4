import {
  COMMAND_CATALOG,
  COMMAND_LIST,
  COMMAND_NAMES,
  type CommandName,
  InvalidError,
  NotLeaderError,
  commandNameOf,
  commandSubjectFor,
  errorReply,
  isInvalid,
  isNotLeader,
  natsNames,
  okReply,
  parseCommand,
  parseCommandReply,
  unwrapReply,
} from './index';
import { EXAMPLE_COMMAND_DATA, EXAMPLE_TASK_ID } from './testing';

function invalid(fn: () => unknown): InvalidError {
  try {
    fn();
  } catch (e) {
    if (isInvalid(e)) return e;
    throw e;
  }
  throw new Error('expected an InvalidError, nothing was thrown');
}

const meta = { correlationId: 'corr-1', issuedAt: '2026-11-27T13:00:00.000Z', fencingToken: 7 };
const request = (name: CommandName, data: unknown = EXAMPLE_COMMAND_DATA[name], m: object = meta) => ({ meta: m, data });

describe('command names', () => {
  it('are <aggregate>.<name> with a name that is one subject token', () => {
    for (const name of COMMAND_LIST) {
      const c = COMMAND_CATALOG[name];
      expect(name).toBe(`${c.aggregate}.${c.name}`);
      expect(c.name).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it('include the commands the architecture needs, under their imperative names', () => {
    expect(COMMAND_NAMES.RegisterProplet).toBe('proplet.register');
    expect(COMMAND_NAMES.ChangePropletHealth).toBe('proplet.changeHealth');
    expect(COMMAND_NAMES.PauseSiteEvacuation).toBe('site.pauseEvacuation');
    expect(COMMAND_NAMES.RecordTaskResult).toBe('task.recordResult');
    expect(new Set(Object.values(COMMAND_NAMES))).toEqual(new Set(COMMAND_LIST));
  });

  it('build their request subject under the prefix', () => {
    const n = natsNames('t1');
    expect(commandSubjectFor(n, 'proplet.changeHealth')).toBe('t1.commands.proplet.changeHealth');
    expect(commandSubjectFor(n, 'task.recordStarted')).toBe('t1.commands.task.recordStarted');
  });

  it('are read back from the subject tokens', () => {
    const { aggregate, name } = natsNames('t1').parseCommandSubject('t1.commands.site.resumeEvacuation');
    expect(commandNameOf(aggregate, name)).toBe('site.resumeEvacuation');
    expect(invalid(() => commandNameOf('task', 'teleport')).issues[0]).toEqual(expect.objectContaining({ field: 'command', value: 'task.teleport' }));
  });
});

describe('parseCommand', () => {
  it.each(COMMAND_LIST)('accepts an example %s and finds its aggregate id', (name) => {
    const cmd = parseCommand(name, request(name));
    expect(cmd.name).toBe(name);
    expect(cmd.aggregate).toBe(COMMAND_CATALOG[name].aggregate);
    const data = EXAMPLE_COMMAND_DATA[name] as Record<string, unknown>;
    const idField = { proplet: 'propletId', task: 'taskId', site: 'site' }[cmd.aggregate];
    expect(cmd.aggregateId).toBe(data[idField]);
  });

  it('applies defaults to task.create', () => {
    const cmd = parseCommand('task.create', request('task.create', { taskId: EXAMPLE_TASK_ID, name: 'blink', daemon: true }));
    expect(cmd.data).toEqual(
      expect.objectContaining({ taskId: EXAMPLE_TASK_ID, functionName: 'blink', maxAttempts: 3, timeoutMs: null, preferredPropletType: 'any', inputs: [] }),
    );
  });

  it('applies defaults to proplet.register', () => {
    const cmd = parseCommand('proplet.register', request('proplet.register'));
    expect(cmd.data).toEqual(expect.objectContaining({ origin: 'create', labels: {}, capacity: {}, metadata: {} }));
  });

  it.each([
    ['proplet.register', { ...EXAMPLE_COMMAND_DATA['proplet.register'], dialect: 'wasm3' }, 'data.dialect'],
    ['proplet.register', { ...EXAMPLE_COMMAND_DATA['proplet.register'], propletId: '' }, 'data.propletId'],
    ['proplet.register', { ...EXAMPLE_COMMAND_DATA['proplet.register'], origin: 'rumour' }, 'data.origin'],
    ['proplet.update', { propletId: 'p' }, 'data'],
    ['proplet.label', { propletId: 'p' }, 'data'],
    ['proplet.changeHealth', { ...EXAMPLE_COMMAND_DATA['proplet.changeHealth'], to: 'zombie' }, 'data.to'],
    ['site.pauseEvacuation', { ...EXAMPLE_COMMAND_DATA['site.pauseEvacuation'], total: 1 }, 'data.total'],
    ['task.create', { taskId: 'not-a-uuid', name: 'x' }, 'data.taskId'],
    ['task.create', { taskId: EXAMPLE_TASK_ID, name: 'x', timeoutMs: -5 }, 'data.timeoutMs'],
    ['task.update', { taskId: EXAMPLE_TASK_ID }, 'data'],
    ['task.schedule', { ...EXAMPLE_COMMAND_DATA['task.schedule'], explanation: 'x'.repeat(4097) }, 'data.explanation'],
    ['task.recordResult', { taskId: EXAMPLE_TASK_ID, results: 1 }, 'data.wireId'],
  ] as const)('refuses a broken %s naming %s', (name, data, field) => {
    const e = invalid(() => parseCommand(name, request(name, data)));
    expect(e.issues.map((i) => i.field)).toContain(field);
    expect(e.message).toMatch(new RegExp(`^command ${name.replace('.', '\\.')}: `));
  });

  it('refuses a request without meta.issuedAt or correlationId', () => {
    const e = invalid(() => parseCommand('task.start', request('task.start', undefined, { correlationId: '' })));
    expect(e.issues.map((i) => i.field).sort()).toEqual(['meta.correlationId', 'meta.issuedAt']);
  });

  it('requires a fencing token on commands only a lease holder sends', () => {
    const fenced = COMMAND_LIST.filter((n) => COMMAND_CATALOG[n].fenced);
    expect(fenced.sort()).toEqual(['proplet.changeHealth', 'site.pauseEvacuation', 'task.recordTimeout', 'task.recordUnschedulable', 'task.schedule']);
    expect(COMMAND_LIST.filter((n) => COMMAND_CATALOG[n].leader).sort()).toEqual(['task.create', 'task.start']);
    const { fencingToken: _dropped, ...unfenced } = meta;
    for (const name of fenced) {
      expect(invalid(() => parseCommand(name, request(name, undefined, unfenced))).issues[0]?.field).toBe('meta.fencingToken');
    }
    expect(parseCommand('task.start', request('task.start', undefined, unfenced)).meta.fencingToken).toBeUndefined();
  });

  it('refuses an unknown command', () => {
    expect(invalid(() => parseCommand('task.teleport', request('task.start'))).issues[0]?.field).toBe('command');
  });
});

describe('command replies', () => {
  it('carry the appended sequences on success', () => {
    const reply = parseCommandReply(JSON.parse(JSON.stringify(okReply('p-1', [41, 42], 42))));
    expect(unwrapReply(reply)).toEqual({ ok: true, aggregateId: 'p-1', sequences: [41, 42], lastSequence: 42 });
  });

  it('rethrow the typed error on the caller side', () => {
    const reply = parseCommandReply(JSON.parse(JSON.stringify(errorReply(new NotLeaderError('token 3 is stale')))));
    let thrown: unknown;
    try {
      unwrapReply(reply);
    } catch (e) {
      thrown = e;
    }
    expect(isNotLeader(thrown)).toBe(true);
    expect((thrown as Error).message).toBe('token 3 is stale');
  });

  it('refuse something that is not a reply', () => {
    expect(invalid(() => parseCommandReply({ ok: true, sequences: [1] })).issues.map((i) => i.field)).toEqual(
      expect.arrayContaining(['aggregateId', 'lastSequence']),
    );
    expect(() => parseCommandReply({ ok: false, error: { code: 'Oops', message: 'x' } })).toThrow(InvalidError);
  });
});
