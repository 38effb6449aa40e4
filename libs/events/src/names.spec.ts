import { DEFAULT_NATS_PREFIX, InvalidError, MAX_ID_BYTES, decodeIdToken, encodeIdToken, isInvalid, natsNames } from './index';

function invalid(fn: () => unknown): InvalidError {
  try {
    fn();
  } catch (e) {
    if (isInvalid(e)) return e;
    throw e;
  }
  throw new Error('expected an InvalidError, nothing was thrown');
}

describe('encodeIdToken / decodeIdToken', () => {
  it.each([
    ['a.b', 'a%2Eb'],
    ['*', '%2A'],
    ['>', '%3E'],
    ['a b', 'a%20b'],
    ['tab\tnew\nline', 'tab%09new%0Aline'],
    ['100%', '100%25'],
    ['%2E', '%252E'],
    ['ünïcödé-✓-设备', 'ünïcödé-✓-设备'],
    ['esp32-7_rpi', 'esp32-7_rpi'],
  ])('encodes %j as the single token %j and decodes it back', (id, token) => {
    expect(encodeIdToken(id)).toBe(token);
    expect(decodeIdToken(token)).toBe(id);
  });

  it('never leaves a subject separator, wildcard or whitespace in the token', () => {
    const nasty = 'a.*> \t\u00a0\u2003b%\u0000.';
    const token = encodeIdToken(nasty);
    expect(token).not.toMatch(/[.*>\s\p{Cc}]/u);
    expect(decodeIdToken(token)).toBe(nasty);
  });

  it('refuses an empty id', () => {
    expect(invalid(() => encodeIdToken('')).issues[0]).toEqual(expect.objectContaining({ field: 'id', value: '' }));
  });

  it('accepts exactly 200 bytes and refuses 201, counting UTF-8 bytes', () => {
    expect(MAX_ID_BYTES).toBe(200);
    expect(encodeIdToken('x'.repeat(200))).toHaveLength(200);
    expect(invalid(() => encodeIdToken('x'.repeat(201))).message).toContain('201');
    // 100 two-byte characters are 200 bytes; one more ASCII byte is too many.
    expect(() => encodeIdToken('é'.repeat(100))).not.toThrow();
    expect(invalid(() => encodeIdToken(`${'é'.repeat(100)}x`)).issues[0]?.field).toBe('id');
  });

  it('names the field it was given', () => {
    expect(invalid(() => encodeIdToken('', 'propletId')).issues[0]?.field).toBe('propletId');
  });

  it('refuses tokens it cannot have produced', () => {
    expect(invalid(() => decodeIdToken('%E0%A4%A')).issues[0]?.field).toBe('token');
    expect(invalid(() => decodeIdToken('a.b')).issues[0]?.field).toBe('token');
    expect(invalid(() => decodeIdToken('')).issues[0]?.field).toBe('token');
  });
});

describe('natsNames', () => {
  it('builds the names of ARCHITECTURE.md from the default prefix', () => {
    const n = natsNames();
    expect(DEFAULT_NATS_PREFIX).toBe('propeller');
    expect(n.prefix).toBe('propeller');
    expect(n.stream).toBe('PROPELLER_EVENTS');
    expect(n.streamSubjects).toBe('propeller.events.>');
    expect(n.eventSubject('task', 'abc')).toBe('propeller.events.task.abc');
    expect(n.eventFilter('proplet')).toBe('propeller.events.proplet.*');
    expect(n.commandSubject('proplet', 'register')).toBe('propeller.commands.proplet.register');
    expect(n.commandFilter('task')).toBe('propeller.commands.task.*');
    expect(n.leaderCommandSubject('task', 'start')).toBe('propeller.leader.task.start');
    expect(n.dlqSubject('scheduler-reactor')).toBe('propeller.dlq.scheduler-reactor');
    expect(n.kv).toEqual({
      liveness: 'propeller_liveness',
      leases: 'propeller_leases',
      snapshots: 'propeller_snapshots',
      metrics: 'propeller_metrics',
    });
    expect(n.modules).toBe('propeller_modules');
    expect(n.metricsStream).toBe('PROPELLER_METRICS');
    expect(n.dlqStream).toBe('PROPELLER_DLQ');
  });

  it('keeps a test prefix apart from every other', () => {
    const n = natsNames('t7f3a');
    expect([n.stream, n.eventSubject('site', 'plant-a'), n.kv.leases, n.modules, n.durable('projector')]).toEqual([
      'T7F3A_EVENTS',
      't7f3a.events.site.plant-a',
      't7f3a_leases',
      't7f3a_modules',
      't7f3a-projector',
    ]);
  });

  it('upper-cases the stream name with dashes turned into underscores', () => {
    expect(natsNames('my-test').stream).toBe('MY_TEST_EVENTS');
  });

  it('encodes ids into one token and reads them back from the subject', () => {
    const n = natsNames('p1');
    const subject = n.eventSubject('proplet', 'rack 4.slot*2');
    expect(subject.split('.')).toHaveLength(4);
    expect(n.parseEventSubject(subject)).toEqual({ aggregate: 'proplet', id: 'rack 4.slot*2' });
    expect(n.metricsSubject('proplet', 'a.b')).toBe('p1.metrics.proplet.a%2Eb');
  });

  it('names the device inbox stream, its subjects keyed by one encoded id, and the error subjects', () => {
    const n = natsNames('my-p');
    expect(n.inboxStream).toBe('MY_P_INBOX');
    expect(n.inboxSubject('results', 'task.1')).toBe('my-p.inbox.results.task%2E1');
    expect(n.inboxSubject('task_started', 'w')).toBe('my-p.inbox.task_started.w');
    expect(n.errorSubject('gateway')).toBe('my-p.errors.gateway');
    expect(invalid(() => n.inboxSubject('results', '')).issues[0]?.field).toBe('id');
    expect(invalid(() => n.errorSubject('gate.way')).issues[0]?.field).toBe('source');
  });

  it('reads the aggregate and the command name back from a command subject', () => {
    const n = natsNames('p1');
    expect(n.parseCommandSubject('p1.commands.task.recordResult')).toEqual({ aggregate: 'task', name: 'recordResult' });
    expect(invalid(() => n.parseCommandSubject('p2.commands.task.start')).issues[0]?.field).toBe('subject');
  });

  it('refuses a prefix, aggregate or command that is not one safe token', () => {
    expect(invalid(() => natsNames('a.b')).issues[0]?.field).toBe('PROPELLER_NATS_PREFIX');
    expect(invalid(() => natsNames('')).issues[0]?.field).toBe('PROPELLER_NATS_PREFIX');
    expect(invalid(() => natsNames().eventSubject('ta.sk', 'x')).issues[0]?.field).toBe('aggregate');
    expect(invalid(() => natsNames().commandSubject('task', 'st*rt')).issues[0]?.field).toBe('command');
    expect(invalid(() => natsNames().eventSubject('task', '')).issues[0]?.field).toBe('id');
  });

  it('refuses a subject of another prefix or shape', () => {
    const n = natsNames('p1');
    expect(() => n.parseEventSubject('p2.events.task.x')).toThrow(InvalidError);
    expect(() => n.parseEventSubject('p1.events.task')).toThrow(InvalidError);
  });
});
