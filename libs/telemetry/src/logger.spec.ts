import { Writable } from 'node:stream';
import { createLogger } from './logger';

/** Collects the JSON lines a logger writes. */
function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe('createLogger', () => {
  it('writes one JSON object a line with the service, the level as a word and an ISO time', () => {
    const out = capture();
    createLogger('registry', 'info', { destination: out.stream }).info({ proplet: 'p1' }, 'registered');
    const [line] = out.lines();
    expect(line).toMatchObject({ service: 'registry', level: 'info', msg: 'registered', proplet: 'p1' });
    expect(new Date(String(line?.['time'])).toISOString()).toBe(line?.['time']);
  });

  it('drops lines below its level', () => {
    const out = capture();
    const log = createLogger('registry', 'warn', { destination: out.stream });
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l['msg'])).toEqual(['shown']);
  });

  it('redacts secret fields at the top level and nested', () => {
    const out = capture();
    createLogger('gw', 'info', { destination: out.stream }).info(
      { password: 'p1', mqtt: { password: 'p2', tls: { key: 'k' } }, req: { headers: { authorization: 'Bearer t' } }, token: 't2' },
      'connecting',
    );
    const text = JSON.stringify(out.lines());
    for (const secret of ['p1', 'p2', '"k"', 'Bearer', 't2']) expect(text).not.toContain(secret);
    expect(out.lines()[0]).toMatchObject({ password: '****', mqtt: { password: '****' } });
  });
});
