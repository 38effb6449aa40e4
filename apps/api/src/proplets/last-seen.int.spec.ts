import { Kvm, type KV } from '@nats-io/kv';
import { livenessKey, type PropletLiveness } from '@propeller/events';
import { openApiWorld, registration, type ApiWorld } from '../testing';

// last_seen_at / last_seen_source come from the liveness KV (written by the gateway and the k8s-agent),
// read at request time next to the read-model row: real NATS KV and Postgres, the real registry.

describe('last_seen in the proplets API', () => {
  let w: ApiWorld;
  let liveness: KV;

  const put = (id: string, l: PropletLiveness) => liveness.put(livenessKey(id), JSON.stringify(l));

  beforeAll(async () => {
    w = await openApiWorld();
    liveness = await new Kvm(w.nc).open(w.names.kv.liveness);
    await w.register(registration('seen-a'));
    await w.register(registration('seen-b', { deviceType: 'rpi', dialect: 'wasmtime' }));
    await w.register(registration('seen.c/odd id', { channel: { domainId: 'propeller', channelId: 'ch-odd', layout: 'direct', perPropletTopics: false } }));
  });

  afterAll(async () => {
    await w?.close();
  });

  it('answers the time and source of the latest liveness entry, updated on every write', async () => {
    await put('seen-a', { status: 'alive', at: '2026-11-27T13:00:00.000Z', source: 'heartbeat', writer: 'gw-a' });
    expect((await w.http('GET', '/proplets/seen-a')).body).toMatchObject({ last_seen_at: '2026-11-27T13:00:00.000Z', last_seen_source: 'heartbeat' });

    await put('seen-a', { status: 'offline', at: '2026-11-27T13:00:07.500Z', source: 'lastWill', writer: 'gw-b' });
    expect((await w.http('GET', '/proplets/seen-a')).body).toMatchObject({ last_seen_at: '2026-11-27T13:00:07.500Z', last_seen_source: 'last_will' });
  });

  it('keeps last_seen null for a proplet never heard from, and for a deleted liveness key', async () => {
    expect((await w.http('GET', '/proplets/seen-b')).body).toMatchObject({ last_seen_at: null, last_seen_source: null });
    await put('seen-b', { status: 'alive', at: '2026-11-27T13:00:00.000Z', source: 'podReadiness', writer: 'agent' });
    expect((await w.http('GET', '/proplets/seen-b')).body).toMatchObject({ last_seen_source: 'pod_readiness' });
    await liveness.delete(livenessKey('seen-b'));
    expect((await w.http('GET', '/proplets/seen-b')).body).toMatchObject({ last_seen_at: null, last_seen_source: null });
  });

  it('finds the key of an id that needs encoding', async () => {
    await put('seen.c/odd id', { status: 'alive', at: '2026-11-27T13:05:00.000Z', source: 'heartbeat', writer: 'gw-a' });
    const res = await w.http('GET', `/proplets/${encodeURIComponent('seen.c/odd id')}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'seen.c/odd id', last_seen_at: '2026-11-27T13:05:00.000Z' });
  });

  it('shows a record it cannot read as never seen instead of failing the request', async () => {
    await liveness.put(livenessKey('seen-b'), '{"status":"alive"}');
    const res = await w.http('GET', '/proplets/seen-b');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ last_seen_at: null, last_seen_source: null });
  });

  it('gives every row of a list page its own last_seen', async () => {
    await put('seen-a', { status: 'alive', at: '2026-11-27T14:00:00.000Z', source: 'heartbeat', writer: 'gw-a' });
    const res = await w.http('GET', '/proplets');
    expect(res.status).toBe(200);
    const byId = Object.fromEntries((res.body.proplets as Array<{ id: string; last_seen_at: string | null }>).map((p) => [p.id, p.last_seen_at]));
    expect(byId).toEqual({ 'seen-a': '2026-11-27T14:00:00.000Z', 'seen-b': null, 'seen.c/odd id': '2026-11-27T13:05:00.000Z' });
  });

  it('answers the write routes with last_seen too (PATCH shows the same entry as GET)', async () => {
    const res = await w.http('PATCH', '/proplets/seen-a', { labels: { zone: 'north' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ labels: { zone: 'north' }, last_seen_at: '2026-11-27T14:00:00.000Z', last_seen_source: 'heartbeat' });
  });
});
