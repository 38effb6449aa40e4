import { fmtCount } from './explanation';
import { CapacityLedger, type LedgerView, type Reservation } from './ledger';
import { initialPolicyState, place, type PlaceOptions, type PolicyState } from './place';
import { aProplet, aTask, prng, pick, some } from './testing';
import { referencePlace } from './testing/reference-place';
import type { Candidate, PolicyName, SchedulingTask } from './types';

// The column-wise pass (FleetIndex, profiles, reservation columns) must decide exactly what the
// object-by-object pass it replaced decided, explanation text included. `referencePlace` is that
// earlier pass, kept as the oracle.

const NOW = 1_700_000_000_000;


// 40 capabilities, so capability bitsets need two 32-bit words.
const CAPS = ['wasm', 'sensor', 'gpu', ...Array.from({ length: 37 }, (_, i) => `cap${i}`)];

function randomFleet(rnd: () => number, n: number): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    // A few duplicate ids: the tie-breaks by id must still agree.
    const id = rnd() < 0.05 ? `p${Math.floor(rnd() * i)}` : `p${i}`;
    const b = aProplet(id)
      .health(pick(rnd, ['healthy', 'healthy', 'healthy', 'offline', 'unknown', 'failed', 'deregistered'] as const))
      .withCapabilities(...some(rnd, ['wasm', 'sensor', 'gpu']), ...(rnd() < 0.3 ? [pick(rnd, CAPS)] : []))
      .withLabels(rnd() < 0.6 ? { zone: pick(rnd, ['eu', 'us']), ...(rnd() < 0.5 ? { tier: pick(rnd, ['a', 'b']) } : {}) } : {});
    if (rnd() < 0.3) b.esp32(`d/ch-${Math.floor(rnd() * 4)}`).heardAt(NOW - Math.floor(rnd() * 60_000));
    else b.ofType(pick(rnd, ['k8s', 'external'] as const)).device(pick(rnd, ['linux', 'rpi', 'jetson']));
    if (rnd() < 0.6) b.withCapacity({ ...(rnd() < 0.7 ? { cpu: pick(rnd, ['1', '2', '500m', '0']) } : {}), ...(rnd() < 0.7 ? { memory: pick(rnd, ['1Gi', '4Gi']) } : {}) });
    if (rnd() < 0.3) b.withMaxTasks(Math.floor(rnd() * 3));
    if (rnd() < 0.1) b.cordoned();
    out.push(b.build());
  }
  return out;
}

function randomTask(rnd: () => number, i: number, fleet: readonly Candidate[]): SchedulingTask {
  return aTask(`t${i}`, {
    name: pick(rnd, ['add', 'my-ml-job', 'read-sensor']),
    ...(rnd() < 0.4 ? { preferredPropletType: pick(rnd, ['k8s', 'external', 'any'] as const) } : {}),
    ...(rnd() < 0.5 ? { wamrStartBytes: pick(rnd, [200, 1023, 1024, 4000]) } : {}),
    propletSelector: {
      ...(rnd() < 0.3 ? { matchCapabilities: some(rnd, CAPS.slice(0, 3).concat(pick(rnd, CAPS), 'quantum')) } : {}),
      ...(rnd() < 0.2 ? { matchLabels: { zone: pick(rnd, ['eu', 'us', 'mars']), ...(rnd() < 0.5 ? { tier: 'a' } : {}) } } : {}),
      ...(rnd() < 0.2 ? { matchTypes: [pick(rnd, ['k8s', 'external'] as const)] } : {}),
      ...(rnd() < 0.15 ? { matchDeviceTypes: some(rnd, ['linux', 'rpi', 'esp32', 'toaster']) } : {}),
      ...(rnd() < 0.1 ? { propletId: rnd() < 0.8 ? (pick(rnd, fleet)?.id ?? 'p0') : 'nobody' } : {}),
    },
    ...(rnd() < 0.5 ? { resourceRequirements: { ...(rnd() < 0.6 ? { cpu: pick(rnd, ['250m', '1']) } : {}), ...(rnd() < 0.6 ? { memory: pick(rnd, ['512Mi', '2Gi']) } : {}) } } : {}),
  });
}

/** A candidate whose absence changes no channel verdict (not a WAMR device heard in the last 30 s), so it can be left out of a decision and compared with an array without it. */
const silentOnItsChannel = (c: Candidate): boolean => c.dialect !== 'wamr' || c.lastHeardAt === undefined || NOW - c.lastHeardAt > 30_000;

/** A `LedgerView` that is not a `CapacityLedger`: the pass must read it with `get`. */
class PlainView implements LedgerView {
  constructor(private readonly inner: CapacityLedger) {}
  get(propletId: string): Reservation | undefined {
    return this.inner.get(propletId);
  }
}

function decideBoth(policy: PolicyName, seed: number, view: (l: CapacityLedger) => LedgerView): number {
  const rnd = prng(seed);
  let compared = 0;
  for (let round = 0; round < 20; round++) {
    let fleet = randomFleet(rnd, 60);
    const ledger = new CapacityLedger();
    let fast: PolicyState = initialPolicyState();
    let slow: PolicyState = initialPolicyState();
    for (let i = 0; i < 15; i++) {
      if (i === 7) {
        // The scheduler builds a new array when a proplet changes; the same array edited in place must be noticed too.
        fleet[3] = aProplet('p3').health('offline').build();
        if (rnd() < 0.5) fleet = [...fleet, aProplet(`late-${round}`).withCapacity({ cpu: '4' }).build()];
      }
      const task = randomTask(rnd, round * 100 + i, fleet);
      const options: PlaceOptions = { now: NOW, policy, random: rnd() };
      // Proplets left out by `exclude` (ids may repeat in these fleets: every one of an id goes) decide
      // as an array without them does (those whose absence changes no channel verdict; a WAMR device
      // left out still hears its channel, see fleet.spec.ts).
      const quiet = fleet.filter((c) => fleet.every((d) => d.id !== c.id || silentOnItsChannel(d)));
      const exclude = rnd() < 0.25 && quiet.length > 0 ? new Set([pick(rnd, quiet).id, pick(rnd, quiet).id, 'nobody']) : undefined;
      const a = place(task, fleet, view(ledger), fast, exclude === undefined ? options : { ...options, exclude });
      const b = referencePlace(task, exclude === undefined ? fleet : fleet.filter((c) => !exclude.has(c.id)), ledger, slow, options);
      expect(a).toEqual(b);
      compared++;
      fast = a.state;
      slow = b.state;
      if (a.placed !== undefined) {
        const req = { cpuMillis: rnd() < 0.5 ? 250 : 1000, memoryBytes: rnd() < 0.5 ? 0 : 2 ** 30 };
        ledger.reserve(task.id, a.placed.propletId, req);
        if (rnd() < 0.3) ledger.release(task.id);
      }
      // Forgetting a proplet frees its ledger row for reuse; the columns must follow.
      if (rnd() < 0.2) ledger.forget(pick(rnd, fleet).id);
    }
  }
  return compared;
}

describe('the column-wise pass decides what the object-by-object pass decided', () => {
  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: 300 random decisions, explanations included', (policy) => {
    expect(decideBoth(policy, policy.length * 104_729, (l) => l)).toBe(300);
  });

  it('reads a ledger view that is not a CapacityLedger the same way', () => {
    expect(decideBoth('hybrid', 17, (l) => new PlainView(l))).toBe(300);
  });

  it('counts every candidate but the pinned one under the pin rule, with the first three as examples', () => {
    const fleet = ['a', 'b', 'c', 'd', 'e'].map((id) => aProplet(id).build());
    const r = place(aTask('t', { propletSelector: { propletId: 'b' } }), fleet, new CapacityLedger(), initialPolicyState(), { now: NOW });
    expect(r.placed?.propletId).toBe('b');
    expect(r.placed?.explanation.reasons).toEqual([expect.objectContaining({ key: 'pin:b', count: 4, examples: ['a', 'c', 'd'] })]);
  });

  it('gives the examples of a reason in array order across proplets of different profiles', () => {
    const fleet = [
      aProplet('x1').withCapabilities('gpu').health('offline').build(),
      aProplet('x2').health('offline').build(),
      aProplet('x3').ofType('external').health('offline').build(),
      aProplet('x4').withCapabilities('gpu').health('offline').build(),
    ];
    const r = place(aTask('t'), fleet, new CapacityLedger(), initialPolicyState(), { now: NOW });
    expect(r.unschedulable?.explanation.reasons).toEqual([expect.objectContaining({ key: 'health:offline', count: 4, examples: ['x1', 'x2', 'x3'] })]);
  });

  it('sees a proplet replaced in the same array at the next decision', () => {
    const fleet = [aProplet('a').build(), aProplet('b').build()];
    const ledger = new CapacityLedger();
    const opts = { now: NOW, policy: 'resource-aware' as const };
    expect(place(aTask('t1'), fleet, ledger, initialPolicyState(), opts).placed?.propletId).toBe('a');
    fleet[0] = aProplet('a').cordoned().build();
    expect(place(aTask('t2'), fleet, ledger, initialPolicyState(), opts).placed?.propletId).toBe('b');
  });
});

describe('a new array after a change', () => {
  const rr = { now: NOW, policy: 'roundrobin' as const };

  it('keeps the id order when only a proplet changed, and sorts again when the ids moved', () => {
    const first = ['c', 'a', 'b'].map((id) => aProplet(id).build());
    const r1 = place(aTask('t1'), first, new CapacityLedger(), initialPolicyState(), rr);
    expect(r1.placed?.propletId).toBe('a');
    const changed = [first[0] as Candidate, aProplet('a').health('offline').build(), first[2] as Candidate];
    expect(place(aTask('t2'), changed, new CapacityLedger(), r1.state, rr).placed?.propletId).toBe('b');
    // Same length, other ids at each place: the ranking of the previous array must not be reused.
    const moved = ['b', 'z', 'a'].map((id) => aProplet(id).build());
    expect(place(aTask('t3'), moved, new CapacityLedger(), { roundRobinCursor: 'b' }, rr).placed?.propletId).toBe('z');
    expect(place(aTask('t4'), moved, new CapacityLedger(), { roundRobinCursor: 'z' }, rr).placed?.propletId).toBe('a');
  });
});

describe('fmtCount', () => {
  it('groups digits as en-US toLocaleString does, without calling it for counts', () => {
    for (const n of [0, 7, 999, 1000, 10_000, 123_456, 1_234_567, Number.MAX_SAFE_INTEGER]) expect(fmtCount(n)).toBe(n.toLocaleString('en-US'));
    expect(fmtCount(1234.5)).toBe('1,234.5');
  });
});
