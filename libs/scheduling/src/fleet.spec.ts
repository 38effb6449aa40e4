import { CapacityLedger } from './ledger';
import { Fleet, fleetIndex } from './fleet';
import { initialPolicyState, place, type PlaceOptions, type PolicyState } from './place';
import { aProplet, aTask, prng, pick, some } from './testing';
import { referencePlace } from './testing/reference-place';
import type { Candidate, PolicyName, SchedulingTask } from './types';

// A `Fleet` changes its index one slot at a time. Whatever sequence of upserts and removals it goes
// through, a decision over it must be exactly the decision over the same candidates in a fresh
// array (indexed from scratch) and the object-by-object reference's: explanation examples (array
// order) and id tie-breaks included.

const NOW = 1_700_000_000_000;


// Capability names beyond 32 appear as the fleet changes, so the bitsets widen mid-way.
const CAPS = ['wasm', 'sensor', 'gpu', ...Array.from({ length: 40 }, (_, i) => `cap${i}`)];

function randomProplet(rnd: () => number, id: string, capPool: number): Candidate {
  // Half are alike (large profiles, whose first members come and go); the rest are varied.
  if (rnd() < 0.5) return aProplet(id).withCapabilities('wasm').health(rnd() < 0.8 ? 'healthy' : 'offline').build();
  const b = aProplet(id)
    .health(pick(rnd, ['healthy', 'healthy', 'healthy', 'offline', 'unknown', 'failed'] as const))
    .withCapabilities(...some(rnd, ['wasm', 'sensor', 'gpu']), ...(rnd() < 0.5 ? some(rnd, CAPS.slice(0, capPool)) : []))
    .withLabels(rnd() < 0.6 ? { zone: pick(rnd, ['eu', 'us']), ...(rnd() < 0.5 ? { tier: pick(rnd, ['a', 'b']) } : {}) } : {});
  if (rnd() < 0.3) b.esp32(`d/ch-${Math.floor(rnd() * 4)}`).heardAt(NOW - Math.floor(rnd() * 60_000));
  else b.ofType(pick(rnd, ['k8s', 'external'] as const)).device(pick(rnd, ['linux', 'rpi', 'jetson']));
  if (rnd() < 0.6) b.withCapacity({ ...(rnd() < 0.7 ? { cpu: pick(rnd, ['1', '2', '500m']) } : {}), ...(rnd() < 0.7 ? { memory: pick(rnd, ['1Gi', '4Gi']) } : {}) });
  if (rnd() < 0.3) b.withMaxTasks(Math.floor(rnd() * 3));
  if (rnd() < 0.1) b.cordoned();
  return b.build();
}

function randomTask(rnd: () => number, i: number, ids: readonly string[]): SchedulingTask {
  return aTask(`t${i}`, {
    name: pick(rnd, ['add', 'my-ml-job', 'read-sensor']),
    ...(rnd() < 0.4 ? { preferredPropletType: pick(rnd, ['k8s', 'external', 'any'] as const) } : {}),
    ...(rnd() < 0.5 ? { wamrStartBytes: pick(rnd, [200, 1023, 1024]) } : {}),
    propletSelector: {
      ...(rnd() < 0.3 ? { matchCapabilities: some(rnd, CAPS.slice(0, 3).concat(pick(rnd, CAPS))) } : {}),
      ...(rnd() < 0.2 ? { matchLabels: { zone: pick(rnd, ['eu', 'us', 'mars']), ...(rnd() < 0.5 ? { tier: 'a' } : {}) } } : {}),
      ...(rnd() < 0.2 ? { matchTypes: [pick(rnd, ['k8s', 'external'] as const)] } : {}),
      ...(rnd() < 0.15 ? { matchDeviceTypes: some(rnd, ['linux', 'rpi', 'esp32']) } : {}),
      ...(rnd() < 0.1 ? { propletId: rnd() < 0.8 ? pick(rnd, ids.length > 0 ? ids : ['p0']) : 'nobody' } : {}),
    },
    ...(rnd() < 0.5 ? { resourceRequirements: { ...(rnd() < 0.6 ? { cpu: pick(rnd, ['250m', '1']) } : {}), ...(rnd() < 0.6 ? { memory: pick(rnd, ['512Mi', '2Gi']) } : {}) } } : {}),
  });
}

/** One random change: a heartbeat, a health or cordon flip, a new candidate for the same id, a join or a leave. */
function change(rnd: () => number, fleet: Fleet, next: { id: number }, capPool: number): void {
  const ids = fleet.candidates.map((c) => c.id);
  const r = rnd();
  if (r < 0.15 || ids.length === 0) {
    fleet.upsert(randomProplet(rnd, `p${next.id++}`, capPool));
    return;
  }
  const id = pick(rnd, ids);
  const c = fleet.get(id) as Candidate;
  if (r < 0.3) expect(fleet.remove(id)).toBe(true);
  else if (r < 0.5) fleet.upsert({ ...c, lastHeardAt: NOW - Math.floor(rnd() * 60_000) });
  else if (r < 0.7) fleet.upsert({ ...c, health: pick(rnd, ['healthy', 'offline', 'failed', 'unknown'] as const) });
  else if (r < 0.8) fleet.upsert({ ...c, cordoned: !c.cordoned });
  else fleet.upsert(randomProplet(rnd, id, capPool));
}

/** A candidate whose absence changes no channel verdict (not a WAMR device heard in the last 30 s), so it can be left out of a decision and compared with an array without it. */
const silentOnItsChannel = (c: Candidate): boolean => c.dialect !== 'wamr' || c.lastHeardAt === undefined || NOW - c.lastHeardAt > 30_000;

function run(policy: PolicyName, seed: number): { compared: number; widened: number } {
  const rnd = prng(seed);
  let compared = 0;
  // Rounds whose capability bitsets widened while the fleet lived.
  let widened = 0;
  for (let round = 0; round < 8; round++) {
    const next = { id: 0 };
    const initial: Candidate[] = [];
    for (let i = 0; i < 80; i++) initial.push(randomProplet(rnd, `p${next.id++}`, 10));
    const fleet = new Fleet(initial);
    const ix = fleetIndex(fleet);
    const ledger = new CapacityLedger();
    let live: PolicyState = initialPolicyState();
    let fresh: PolicyState = initialPolicyState();
    let slow: PolicyState = initialPolicyState();
    for (let i = 0; i < 40; i++) {
      // The capability pool grows past 32 names half-way, so the bitsets widen while the fleet lives.
      const changes = Math.floor(rnd() * 10);
      for (let k = 0; k < changes; k++) change(rnd, fleet, next, i < 20 ? 10 : CAPS.length);
      const task = randomTask(rnd, round * 100 + i, fleet.candidates.map((c) => c.id));
      const options: PlaceOptions = { now: NOW, policy, random: rnd() };
      // Now and then a few proplets are left out (a retry after a timeout goes elsewhere): as if
      // they were not in the array.
      const exclude = rnd() < 0.3 ? new Set([...some(rnd, fleet.candidates.filter(silentOnItsChannel).map((c) => c.id)).slice(0, 3), 'nobody']) : undefined;
      const a = place(task, fleet, ledger, live, exclude === undefined ? options : { ...options, exclude });
      const copy = fleet.candidates.filter((c) => exclude === undefined || !exclude.has(c.id));
      const b = place(task, copy, ledger, fresh, options);
      const c = referencePlace(task, copy, ledger, slow, options);
      expect(a).toEqual(b);
      expect(a).toEqual(c);
      compared++;
      live = a.state;
      fresh = b.state;
      slow = c.state;
      if (a.placed !== undefined) {
        ledger.reserve(task.id, a.placed.propletId, { cpuMillis: rnd() < 0.5 ? 250 : 1000, memoryBytes: rnd() < 0.5 ? 0 : 2 ** 30 });
        if (rnd() < 0.3) ledger.release(task.id);
      }
      // A forgotten ledger row may be reused by another proplet: the fleet's row map must follow.
      if (rnd() < 0.2 && fleet.size > 0) ledger.forget(pick(rnd, fleet.candidates).id);
    }
    if (ix.capWords > 1) widened++;
    // Every change went into the same index: nothing was rebuilt from scratch.
    expect(fleetIndex(fleet)).toBe(ix);
    expect(fleetIndex(fleet.candidates)).toBe(ix);
  }
  return { compared, widened };
}

describe('a Fleet changed one proplet at a time decides as a fresh array does', () => {
  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: 320 decisions between random changes, explanations included', (policy) => {
    const { compared, widened } = run(policy, policy.length * 7_919 + 3);
    expect(compared).toBe(320);
    expect(widened).toBeGreaterThan(0);
  });

  it('keeps one candidate per id, replaces it in its slot, and moves the last into a removed slot', () => {
    const fleet = new Fleet(['a', 'b', 'c', 'd'].map((id) => aProplet(id).build()));
    const array = fleet.candidates;
    fleet.upsert(aProplet('b').cordoned().build());
    expect(fleet.candidates.map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(fleet.get('b')?.cordoned).toBe(true);
    expect(fleet.remove('a')).toBe(true);
    expect(fleet.remove('a')).toBe(false);
    expect(fleet.candidates.map((c) => c.id)).toEqual(['d', 'b', 'c']);
    fleet.upsert(aProplet('e').build());
    expect(fleet.candidates.map((c) => c.id)).toEqual(['d', 'b', 'c', 'e']);
    // The same live array throughout.
    expect(fleet.candidates).toBe(array);
    expect(fleet.size).toBe(4);
  });

  it('empties and fills again: no proplets, then the ones added back', () => {
    const fleet = new Fleet([aProplet('a').build(), aProplet('b').build(), aProplet('a').cordoned().build()]);
    // One candidate per id: the later one wins, in the earlier one's slot.
    expect(fleet.candidates.map((c) => [c.id, c.cordoned])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    const ledger = new CapacityLedger();
    fleet.remove('a');
    fleet.remove('b');
    const none = place(aTask('t1'), fleet, ledger, initialPolicyState(), { now: NOW });
    expect(none.unschedulable?.reasons).toEqual(['noProplets']);
    fleet.upsert(aProplet('c').withCapabilities('gpu').build());
    const r = place(aTask('t2', { propletSelector: { matchCapabilities: ['gpu'] } }), fleet, ledger, initialPolicyState(), { now: NOW });
    expect(r.placed?.propletId).toBe('c');
    expect(r.placed?.explanation.considered).toBe(1);
  });

  it('follows the id order as proplets join and leave (round-robin rotates by id)', () => {
    const fleet = new Fleet(['c', 'a'].map((id) => aProplet(id).build()));
    const rr = { now: NOW, policy: 'roundrobin' as const };
    const ledger = new CapacityLedger();
    const r1 = place(aTask('t1'), fleet, ledger, initialPolicyState(), rr);
    expect(r1.placed?.propletId).toBe('a');
    fleet.upsert(aProplet('b').build());
    const r2 = place(aTask('t2'), fleet, ledger, r1.state, rr);
    expect(r2.placed?.propletId).toBe('b');
    fleet.remove('c');
    fleet.upsert(aProplet('bb').build());
    expect(place(aTask('t3'), fleet, ledger, r2.state, rr).placed?.propletId).toBe('bb');
  });

  it('answers the WAMR devices of a channel as matchProplet needs them, following moves between channels', () => {
    const fleet = new Fleet([
      aProplet('esp-1').esp32('d/a').build(),
      aProplet('esp-2').esp32('d/a').build(),
      aProplet('esp-3').esp32('d/b').build(),
      aProplet('pod').build(),
    ]);
    const ids = (cs: readonly Candidate[]): string[] => cs.map((c) => c.id).sort();
    expect(ids(fleet.channelPeers('esp-1'))).toEqual(['esp-1', 'esp-2']);
    expect(ids(fleet.channelPeers('esp-3'))).toEqual(['esp-3']);
    expect(fleet.channelPeers('pod')).toEqual([]);
    expect(fleet.channelPeers('nobody')).toEqual([]);
    fleet.upsert(aProplet('esp-2').esp32('d/b').build());
    fleet.remove('esp-1');
    expect(ids(fleet.channelPeers('esp-3'))).toEqual(['esp-2', 'esp-3']);
    // The peers' current candidates, not the ones they had when they joined the channel.
    fleet.upsert({ ...(fleet.get('esp-3') as Candidate), lastHeardAt: NOW });
    expect(fleet.channelPeers('esp-2').find((c) => c.id === 'esp-3')?.lastHeardAt).toBe(NOW);
  });

  it('leaves out the excluded proplets, yet a WAMR device left out still keeps its channel peers from being used', () => {
    const fleet = new Fleet([
      aProplet('esp-1').esp32('d/shared').heardAt(NOW - 1000).build(),
      aProplet('esp-2').esp32('d/shared').heardAt(NOW - 1000).build(),
      aProplet('pod').build(),
    ]);
    const ledger = new CapacityLedger();
    const task = aTask('t', { wamrStartBytes: 200, preferredPropletType: 'external' });
    // esp-1 is left out (it timed out): esp-2 would be next, but esp-1 still hears the channel.
    const r = place(task, fleet, ledger, initialPolicyState(), { now: NOW, exclude: new Set(['esp-1']) });
    expect(r.placed?.propletId).toBe('pod');
    expect(r.placed?.explanation.considered).toBe(2);
    expect(r.placed?.explanation.reasons).toEqual([expect.objectContaining({ key: 'wamrChannel', count: 1, examples: ['esp-2'] })]);
    // Every proplet left out: none is known to this decision.
    const none = place(task, fleet, ledger, initialPolicyState(), { now: NOW, exclude: new Set(['esp-1', 'esp-2', 'pod']) });
    expect(none.unschedulable?.reasons).toEqual(['noProplets']);
  });

  it('sees a WAMR heartbeat on a shared channel at the next decision', () => {
    const fleet = new Fleet([aProplet('esp-1').esp32('d/shared').build(), aProplet('esp-2').esp32('d/shared').health('offline').build()]);
    const task = aTask('t', { wamrStartBytes: 200 });
    expect(place(task, fleet, new CapacityLedger(), initialPolicyState(), { now: NOW }).placed?.propletId).toBe('esp-1');
    fleet.upsert({ ...(fleet.get('esp-2') as Candidate), lastHeardAt: NOW - 1000 });
    const r = place(task, fleet, new CapacityLedger(), initialPolicyState(), { now: NOW });
    expect(r.unschedulable?.reasons).toEqual(['health:offline', 'wamrChannel']);
  });
});
