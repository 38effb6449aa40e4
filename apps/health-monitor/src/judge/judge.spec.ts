import type { PropletHealth } from '@propeller/events';
import { forgetVerdicts, initialJudgeState, judge, type JudgeInput, type JudgeState, type Liveness, type Thresholds, type Verdict } from './judge';

const T: Thresholds = { offlineMs: 5_000, failureMs: 15_000, gatewayStaleMs: 30_000 };
const T0 = 1_000_000;

/** A small fluent world: a judge state fed inputs at given times, collecting every verdict. */
class World {
  state: JudgeState = initialJudgeState(T0);
  verdicts: Array<Verdict & { at: number }> = [];
  now = T0;

  feed(input: JudgeInput, at = this.now): this {
    this.now = at;
    const j = judge(this.state, input, at, T);
    this.state = j.state;
    this.verdicts.push(...j.verdicts.map((v) => ({ ...v, at })));
    return this;
  }
  gateway(connected: boolean, at = this.now): this {
    return this.feed({ kind: 'gateway', replica: 'gw-1', gateway: { connected, at } }, at);
  }
  registered(id: string, health: PropletHealth = 'unknown', site = 'plant-a'): this {
    return this.feed({ kind: 'proplet', propletId: id, fact: { kind: 'registered', type: 'external', site, health } });
  }
  beat(id: string, at = this.now, source: Liveness['source'] = 'heartbeat'): this {
    return this.feed({ kind: 'liveness', propletId: id, liveness: { status: 'alive', at, source } }, at);
  }
  will(id: string, at = this.now, source: Liveness['source'] = 'lastWill'): this {
    return this.feed({ kind: 'liveness', propletId: id, liveness: { status: 'offline', at, source } }, at);
  }
  recorded(id: string, health: PropletHealth): this {
    return this.feed({ kind: 'proplet', propletId: id, fact: { kind: 'healthRecorded', health } });
  }
  tick(at: number): this {
    return this.feed({ kind: 'tick' }, at);
  }
  path(): string[] {
    return this.verdicts.map((v) => v.to);
  }
}

// A healthy proplet with a live gateway: the usual starting point.
const healthyWorld = (): World => new World().gateway(true).registered('p1').beat('p1');

describe('judge', () => {
  describe('verdicts from liveness', () => {
    it.each([
      // [case, steps after a first heartbeat at T0, expected verdicts]
      ['a heartbeat makes an unknown proplet healthy', (w: World) => w, ['healthy']],
      ['silence just under the offline threshold changes nothing', (w: World) => w.tick(T0 + 4_999), ['healthy']],
      ['silence past the offline threshold is offline', (w: World) => w.tick(T0 + 5_000), ['healthy', 'offline']],
      ['silence past the failure threshold is failed', (w: World) => w.tick(T0 + 5_000).tick(T0 + 15_000), ['healthy', 'offline', 'failed']],
      ['a long silence seen at once goes straight to failed', (w: World) => w.tick(T0 + 20_000), ['healthy', 'failed']],
      ['a heartbeat brings a failed proplet back', (w: World) => w.tick(T0 + 20_000).beat('p1', T0 + 21_000), ['healthy', 'failed', 'healthy']],
      ['a last-will is offline at once', (w: World) => w.will('p1', T0 + 100), ['healthy', 'offline']],
      ['a last-will, then silence, is failed past the failure threshold', (w: World) => w.will('p1', T0 + 100).tick(T0 + 15_100), ['healthy', 'offline', 'failed']],
      ['a ready pod is healthy like a heartbeat', (w: World) => w.beat('p1', T0 + 10, 'podReadiness').tick(T0 + 4_000), ['healthy']],
      ['a pod that is not ready is offline at once', (w: World) => w.will('p1', T0 + 10, 'podReadiness'), ['healthy', 'offline']],
      ['heartbeats keep it healthy with no repeated verdict', (w: World) => w.beat('p1', T0 + 3_000).beat('p1', T0 + 6_000).tick(T0 + 8_000), ['healthy']],
      ['ticks repeat no verdict while the registry has not recorded it yet', (w: World) => w.tick(T0 + 6_000).tick(T0 + 7_000).tick(T0 + 8_000), ['healthy', 'offline']],
    ])('%s', (_name, steps, expected) => {
      expect(steps(healthyWorld()).path()).toEqual(expected);
    });

    it('keeps a registered proplet unknown until its first heartbeat, however long it is silent', () => {
      const w = new World().gateway(true).registered('p1').tick(T0 + 60_000);
      expect(w.path()).toEqual([]);
      w.gateway(true, T0 + 60_001).beat('p1', T0 + 60_001);
      expect(w.verdicts).toEqual([expect.objectContaining({ from: 'unknown', to: 'healthy' })]);
    });

    it('does not judge a proplet it learnt of only from the liveness KV (not registered)', () => {
      expect(new World().gateway(true).beat('ghost').path()).toEqual([]);
    });

    it('forgets a deregistered proplet', () => {
      const w = healthyWorld().feed({ kind: 'proplet', propletId: 'p1', fact: { kind: 'deregistered' } }).tick(T0 + 60_000);
      expect(w.path()).toEqual(['healthy']);
    });

    it('gives reason and evidence: last seen, age and source', () => {
      const w = healthyWorld().tick(T0 + 5_200);
      expect(w.verdicts[1]).toEqual({
        propletId: 'p1',
        type: 'external',
        site: 'plant-a',
        from: 'healthy',
        to: 'offline',
        reason: 'silent for 5200 ms (offline threshold 5000 ms)',
        evidence: { lastSeenAt: new Date(T0).toISOString(), ageMs: 5_200, source: 'silence' },
        at: T0 + 5_200,
      });
      w.will('p1', T0 + 5_300);
      expect(w.path()).toEqual(['healthy', 'offline']);
    });

    it('starts from the recorded health, and decides again after a refused verdict', () => {
      const w = new World()
        .feed({ kind: 'gateway', replica: 'gw-1', gateway: { connected: true, at: T0, connectedSince: T0 - 60_000 } })
        .registered('p1', 'healthy')
        .feed({ kind: 'liveness', propletId: 'p1', liveness: { status: 'alive', at: T0 - 6_000, source: 'heartbeat' } });
      expect(w.verdicts).toEqual([expect.objectContaining({ from: 'healthy', to: 'offline' })]);
      w.tick(T0 + 10);
      expect(w.path()).toEqual(['offline']);
      // Forgetting decides nothing by itself; the next look decides it again.
      w.state = forgetVerdicts(w.state, ['p1']);
      expect(w.path()).toEqual(['offline']);
      w.tick(T0 + 15);
      expect(w.path()).toEqual(['offline', 'offline']);
      // Once recorded, the next verdict starts from there.
      w.recorded('p1', 'offline').tick(T0 + 20);
      expect(w.path()).toEqual(['offline', 'offline']);
    });

    it('counts silence of a judged proplet without any liveness from when it first knew it', () => {
      const w = new World().gateway(true).registered('p1', 'healthy').tick(T0 + 4_000);
      expect(w.path()).toEqual([]);
      w.tick(T0 + 5_000);
      expect(w.verdicts).toEqual([expect.objectContaining({ to: 'offline', evidence: expect.objectContaining({ lastSeenAt: new Date(T0).toISOString() }) })]);
    });

    it('judges only the proplets a batch of liveness inputs names, and everyone on a tick', () => {
      const w = new World().gateway(true).registered('p1').registered('p2').beat('p1').beat('p2');
      // p2 is past its offline threshold, but a heartbeat of p1 only judges p1.
      const j = judge(w.state, { kind: 'liveness', propletId: 'p1', liveness: { status: 'alive', at: T0 + 6_000, source: 'heartbeat' } }, T0 + 6_000, T);
      expect(j.verdicts).toEqual([]);
      expect(j.everyone).toBe(false);
      const tick = judge(j.state, { kind: 'tick' }, T0 + 6_000, T);
      expect(tick.verdicts.map((v) => [v.propletId, v.to])).toEqual([['p2', 'offline']]);
      expect(tick.everyone).toBe(true);
    });

    it('folds a batch of inputs in order, like the same inputs one by one', () => {
      const inputs: JudgeInput[] = [
        { kind: 'gateway', replica: 'gw-1', gateway: { connected: true, at: T0 } },
        { kind: 'proplet', propletId: 'p1', fact: { kind: 'registered', type: 'external', site: 'a', health: 'unknown' } },
        { kind: 'liveness', propletId: 'p1', liveness: { status: 'alive', at: T0, source: 'heartbeat' } },
        { kind: 'liveness', propletId: 'p1', liveness: { status: 'offline', at: T0 + 10, source: 'lastWill' } },
      ];
      const batch = judge(initialJudgeState(T0), inputs, T0 + 10, T);
      expect(batch.verdicts.map((v) => [v.from, v.to, v.evidence.source])).toEqual([['unknown', 'offline', 'lastWill']]);
      const oneByOne = inputs.reduce((s, i) => judge(s, i, T0 + 10, T).state, initialJudgeState(T0));
      expect(batch.state.liveness).toEqual(oneByOne.liveness);
    });

    it('names the earliest threshold deadline so the service can judge on time', () => {
      const w = healthyWorld();
      expect(judge(w.state, { kind: 'tick' }, T0 + 1_000, T).nextDeadline).toBe(T0 + 5_000);
      w.tick(T0 + 5_000);
      expect(judge(w.state, { kind: 'tick' }, T0 + 6_000, T).nextDeadline).toBe(T0 + 15_000);
    });
  });

  describe('broker outages', () => {
    it('judges nobody while no gateway reports a live broker connection', () => {
      const w = healthyWorld().gateway(false, T0 + 1_000).tick(T0 + 30_000);
      expect(w.path()).toEqual(['healthy']);
    });

    it('judges nobody before any gateway has reported', () => {
      expect(new World().registered('p1').beat('p1').path()).toEqual([]);
    });

    it('counts silence from when the inputs were healthy again, so an outage fails nobody', () => {
      const w = healthyWorld().gateway(false, T0 + 1_000).tick(T0 + 30_000);
      w.gateway(true, T0 + 40_000);
      expect(w.path()).toEqual(['healthy']);
      // Silent since the broker came back: offline and failed measured from there, not from T0.
      w.tick(T0 + 44_999);
      expect(w.path()).toEqual(['healthy']);
      w.tick(T0 + 45_000).tick(T0 + 55_000);
      expect(w.verdicts.map((v) => [v.to, v.at])).toEqual([
        ['healthy', T0],
        ['offline', T0 + 45_000],
        ['failed', T0 + 55_000],
      ]);
    });

    it('counts silence from when the oldest live gateway connection was established, when gateways say so', () => {
      // A judge that starts (or takes over) late still sees silence that began before it, but not before the broker came back.
      const w = new World()
        .registered('p1', 'healthy')
        .registered('p2', 'healthy')
        .feed({ kind: 'liveness', propletId: 'p1', liveness: { status: 'alive', at: T0 - 20_000, source: 'heartbeat' } })
        .feed({ kind: 'liveness', propletId: 'p2', liveness: { status: 'alive', at: T0 - 9_000, source: 'heartbeat' } })
        .feed({ kind: 'gateway', replica: 'gw-1', gateway: { connected: true, at: T0, connectedSince: T0 - 10_000 } });
      expect(w.verdicts.map((v) => [v.propletId, v.to, v.evidence.ageMs])).toEqual([
        ['p1', 'offline', 20_000],
        ['p2', 'offline', 9_000],
      ]);
    });

    it('does not revive a failed proplet when the inputs come back', () => {
      const w = healthyWorld().tick(T0 + 20_000).gateway(false, T0 + 21_000).gateway(true, T0 + 22_000).tick(T0 + 23_000);
      expect(w.path()).toEqual(['healthy', 'failed']);
    });

    it('treats a gateway key that stopped being refreshed as no connection', () => {
      const w = healthyWorld().tick(T0 + 31_000);
      expect(w.path()).toEqual(['healthy']);
      expect(w.state.inputsHealthy).toBe(false);
    });

    it('needs only one of several gateways connected', () => {
      const w = healthyWorld().feed({ kind: 'gateway', replica: 'gw-2', gateway: { connected: false, at: T0 } }).tick(T0 + 5_000);
      expect(w.path()).toEqual(['healthy', 'offline']);
    });
  });
});
