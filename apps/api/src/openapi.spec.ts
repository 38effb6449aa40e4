import type { Kysely } from 'kysely';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { natsNames } from '@propeller/events';
import type { ReadModelTables } from '@propeller/read-models';
import { buildApi, type Api } from './app';
import { openApiPath } from './openapi';

// Building the app registers routes without touching NATS or Postgres, so these stand-ins are never called.
const unused = <T>(what: string): T =>
  new Proxy({}, { get: (_t, key) => (key === 'then' ? undefined : () => Promise.reject(new Error(`${what} must not be used while building the app`))) }) as T;

const build = (): Api =>
  buildApi({
    db: unused<Kysely<ReadModelTables>>('db'),
    nc: unused<NatsConnection>('nc'),
    names: natsNames('openapi'),
    config: { api: { readYourWritesTimeout: 10 } },
    logger: pino({ level: 'silent' }),
  });

const undocumented = (api: Api): string[] => {
  const paths = api.openApi()['paths'] as Record<string, Record<string, unknown>>;
  return api.registered.map((r) => `${r.method} ${openApiPath(r.url)}`).filter((r) => {
    const [method, path] = r.split(' ') as [string, string];
    return paths[path]?.[method.toLowerCase()] === undefined;
  });
};

describe('openApi', () => {
  it('documents every route Fastify registered, as OpenAPI 3.1', async () => {
    const api = build();
    await api.app.ready();
    expect(api.openApi()['openapi']).toBe('3.1.0');
    expect(api.registered.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining(['GET /proplets', 'GET /proplets/:id', 'PATCH /proplets/:id', 'DELETE /proplets/:id', 'POST /proplets/:id/cordon', 'GET /health', 'GET /metrics', 'GET /openapi.json']),
    );
    expect(undocumented(api)).toEqual([]);
    await api.close();
  });

  it('notices a route added around the route table', async () => {
    const api = build();
    api.app.get('/sneaky', async () => ({}));
    await api.app.ready();
    expect(undocumented(api)).toEqual(['GET /sneaky']);
    await api.close();
  });

  it('marks required path parameters and optional query parameters', () => {
    const paths = build().openApi()['paths'] as Record<string, Record<string, { parameters?: Array<{ name: string; in: string; required: boolean }> }>>;
    expect(paths['/proplets/{id}']?.['get']?.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    expect(paths['/proplets']?.['get']?.parameters?.every((p) => p.in === 'query' && !p.required)).toBe(true);
  });
});
