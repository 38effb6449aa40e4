import { z } from 'zod';
import { ConflictError, InternalError, InvalidError, NotFoundError, NotLeaderError, UnschedulableError, isInvalid } from '@propeller/events';
import { parseRequest, toErrorAnswer } from './http-errors';

describe('toErrorAnswer', () => {
  it.each([
    [InvalidError.field('limit', 5000, 'must be an integer from 1 to 1000'), 400, 'Invalid'],
    [new NotFoundError('proplet x is not registered'), 404, 'NotFound'],
    [new ConflictError('proplet x has unfinished tasks'), 409, 'Conflict'],
    [new UnschedulableError('no proplet fits'), 422, 'Unschedulable'],
    [new NotLeaderError('stale token'), 503, 'NotLeader'],
  ])('maps %p to %i', (error, status, code) => {
    const answer = toErrorAnswer(error);
    expect(answer.status).toBe(status);
    expect(answer.body.error).toMatchObject({ code, message: error.message });
  });

  it('keeps the field, the value and the rule of an Invalid error', () => {
    expect(toErrorAnswer(InvalidError.field('label', 'novalue', 'must be key=value')).body.error.details).toEqual({
      issues: [{ field: 'label', value: 'novalue', rule: 'must be key=value' }],
    });
  });

  it('maps a Fastify body-too-large error to 413 Invalid naming the body', () => {
    const e = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
    const answer = toErrorAnswer(e);
    expect(answer.status).toBe(413);
    expect(answer.body.error).toMatchObject({ code: 'Invalid', details: { issues: [{ field: 'body' }], reason: 'FST_ERR_CTP_BODY_TOO_LARGE' } });
  });

  it('hides the message of an unexpected error behind Internal 500', () => {
    const answer = toErrorAnswer(new Error('password=hunter2 in a stack'));
    expect(answer).toEqual({ status: 500, body: { error: { code: 'Internal', message: 'internal error', details: {} } } });
  });
});

describe('toErrorAnswer for dependencies that are away', () => {
  it('answers 503 when no service answers a command or none answers in time, 500 for other internal errors', () => {
    const away = (reason: string) => new InternalError('t1.commands.task.create: no service answers', { details: { subject: 't1.commands.task.create', reason } });
    expect(toErrorAnswer(away('noResponders'))).toMatchObject({ status: 503, body: { error: { code: 'Internal', details: { reason: 'noResponders' } } } });
    expect(toErrorAnswer(away('timeout'))).toMatchObject({ status: 503, body: { error: { code: 'Internal', details: { reason: 'timeout' } } } });
    expect(toErrorAnswer(away('failed')).status).toBe(500);
  });

  it('answers 503 when Postgres refuses connections and when the read model is not created yet', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const missing = Object.assign(new Error('relation "proplets" does not exist'), { code: '42P01' });
    expect(toErrorAnswer(refused)).toMatchObject({ status: 503, body: { error: { code: 'Internal', details: { reason: 'postgresUnavailable' } } } });
    expect(toErrorAnswer(missing)).toMatchObject({ status: 503, body: { error: { code: 'Internal', details: { reason: 'readModelMissing' } } } });
  });
});

describe('parseRequest', () => {
  const schema = z.strictObject({ reason: z.string().min(1, 'must be a non-empty string').optional() });

  it('returns the parsed value', () => {
    expect(parseRequest(schema, { reason: 'x' }, 'body', ['reason'])).toEqual({ reason: 'x' });
  });

  it('names each unknown field with its value and the allowed fields', () => {
    let thrown: unknown;
    try {
      parseRequest(schema, { reason: '', colour: 'red', size: 3 }, 'body', ['reason']);
    } catch (e) {
      thrown = e;
    }
    expect(isInvalid(thrown)).toBe(true);
    expect((thrown as InvalidError).issues).toEqual(
      expect.arrayContaining([
        { field: 'reason', value: '', rule: 'must be a non-empty string' },
        { field: 'colour', value: 'red', rule: 'is not a known field (allowed: reason)' },
        { field: 'size', value: 3, rule: 'is not a known field (allowed: reason)' },
      ]),
    );
    expect((thrown as InvalidError).message).toMatch(/^body: /);
  });
});
