import { MAX_EXPLANATION_BYTES, explanationText, sameReasons } from './explanation';
import { CapacityLedger } from './ledger';
import { freeShare, initialPolicyState, place, type PlaceOptions, type PolicyState } from './place';
import { aProplet, aTask, placedOf, unschedulableOf } from './testing';
import { channelKey, type Candidate, type PolicyName, type SchedulingTask } from './types';
import { TaskSpecSchema } from '@propeller/events';

const NOW = 1_700_000_000_000;
const empty = new CapacityLedger();

/** Places `n` tasks in a row on the same ledger-free snapshot, threading the policy state. */
function placeMany(task: SchedulingTask, proplets: Candidate[], policy: PolicyName, n: number, ledger = empty): string[] {
  let state: PolicyState = initialPolicyState();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = place({ ...task, id: `${task.id}-${i}` }, proplets, ledger, state, { now: NOW, policy });
    out.push(r.placed?.propletId ?? 'none');
    state = r.state;
  }
  return out;
}

describe('roundrobin', () => {
  const proplets = ['c', 'a', 'b'].map((id) => aProplet(id).build());

  it('rotates by id with the cursor passed in and returned', () => {
    expect(placeMany(aTask('t'), proplets, 'roundrobin', 5)).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('rotates across both types when the task has no preference', () => {
    const mixed = [aProplet('c').build(), aProplet('b').ofType('external').build(), aProplet('a').build()];
    expect(placeMany(aTask('t'), mixed, 'roundrobin', 4)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('skips proplets that cannot take the task and keeps rotating when one joins', () => {
    const r1 = place(aTask('t1'), proplets, empty, { roundRobinCursor: 'a' }, { now: NOW, policy: 'roundrobin' });
    expect(r1.placed?.propletId).toBe('b');
    expect(r1.state).toEqual({ roundRobinCursor: 'b' });
    const withNew = [...proplets, aProplet('bb').build(), aProplet('ba').health('offline').build()];
    const r2 = place(aTask('t2'), withNew, empty, r1.state, { now: NOW, policy: 'roundrobin' });
    expect(r2.placed?.propletId).toBe('bb');
  });

  it('returns the state unchanged when nothing fits', () => {
    const state = { roundRobinCursor: 'b' };
    const r = place(aTask('t1', { propletSelector: { matchCapabilities: ['gpu'] } }), proplets, empty, state, { now: NOW, policy: 'roundrobin' });
    expect(r.unschedulable).toBeDefined();
    expect(r.state).toBe(state);
  });
});

describe('resource-aware', () => {
  it('picks the largest free share, the minimum over the resources each proplet reports', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x1', 'cpu-busy', { cpuMillis: 3000, memoryBytes: 0 }); // cpu share after: (4-3-1)/4 = 0
    ledger.reserve('x2', 'mem-busy', { cpuMillis: 0, memoryBytes: 6 * 2 ** 30 }); // mem share after: (8-6-1)/8 = .125
    const proplets = [
      aProplet('cpu-busy').withCapacity({ cpu: '4', memory: '8Gi' }).build(),
      aProplet('mem-busy').withCapacity({ cpu: '4', memory: '8Gi' }).build(),
      aProplet('half').withCapacity({ cpu: '2', memory: '8Gi' }).build(), // cpu share after: (2-1)/2 = .5
    ];
    const task = aTask('t1', { resourceRequirements: { cpu: '1', memory: '1Gi' } });
    const r = place(task, proplets, ledger, initialPolicyState(), { now: NOW, policy: 'resource-aware' });
    expect(r.placed?.propletId).toBe('half');
    expect(r.placed?.explanation.notes.map((n) => n.message)).toContain('resource-aware picked half (largest free share: 0.500)');
  });

  it('spreads equal proplets as the ledger fills', () => {
    const ledger = new CapacityLedger();
    const proplets = ['p1', 'p2', 'p3'].map((id) => aProplet(id).withCapacity({ cpu: '3' }).build());
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = place(aTask(`t${i}`, { resourceRequirements: { cpu: '500m' } }), proplets, ledger, initialPolicyState(), {
        now: NOW,
        policy: 'resource-aware',
      });
      got.push(placedOf(r).propletId);
      ledger.reserve(`t${i}`, placedOf(r).propletId, { cpuMillis: 500, memoryBytes: 0 });
    }
    expect(got).toEqual(['p1', 'p2', 'p3', 'p1', 'p2', 'p3']);
  });

  it.each([
    { what: 'a proplet reporting nothing counts as free, discounted by its tasks', capacity: {}, maxTasks: undefined, tasks: 3, share: 0.25 },
    { what: 'task slots count as a reported resource', capacity: {}, maxTasks: 4, tasks: 1, share: 0.5 },
    { what: 'zero capacity is no room', capacity: { cpu: '0' }, maxTasks: undefined, tasks: 0, share: 0 },
  ])('$what', ({ capacity, maxTasks, tasks, share }) => {
    const b = aProplet('p').withCapacity(capacity);
    if (maxTasks !== undefined) b.withMaxTasks(maxTasks);
    expect(freeShare(b.build(), { cpuMillis: 0, memoryBytes: 0 }, { cpuMillis: 0, memoryBytes: 0, tasks })).toBeCloseTo(share);
  });
});

describe('preferredPropletType is a preference in every policy', () => {
  const k8sFull = aProplet('pod-1').ofType('k8s').withCapacity({ cpu: '1' }).build();
  const edge = aProplet('rpi-1').ofType('external').withCapacity({ cpu: '4' }).build();
  const ledger = new CapacityLedger();
  ledger.reserve('x', 'pod-1', { cpuMillis: 1000, memoryBytes: 0 });
  const task = aTask('t1', { preferredPropletType: 'k8s', resourceRequirements: { cpu: '500m' } });

  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: the preferred kind wins when it has room', (policy) => {
    const roomy = aProplet('pod-2').ofType('k8s').withCapacity({ cpu: '1' }).build();
    const r = place(task, [edge, k8sFull, roomy], ledger, initialPolicyState(), { now: NOW, policy });
    expect(r.placed?.propletId).toBe('pod-2');
    expect(r.placed?.explanation.notes.some((n) => n.kind === 'fallback')).toBe(false);
  });

  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: the other kind is used when the preferred is full, and it says so', (policy) => {
    const r = place(task, [edge, k8sFull], ledger, initialPolicyState(), { now: NOW, policy });
    expect(r.placed?.propletId).toBe('rpi-1');
    const text = explanationText(placedOf(r).explanation);
    expect(text).toContain('no k8s proplet can take the task (preferred); using external proplet rpi-1 instead');
    expect(text).toContain('1 proplet lacks room for cpu 500m (most free: 0), e.g. pod-1');
  });

  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: external preferred, only k8s has room → k8s, explained', (policy) => {
    const r = place({ ...task, preferredPropletType: 'external' }, [aProplet('rpi-off').ofType('external').health('offline').build(), aProplet('pod-9').build()], empty, initialPolicyState(), {
      now: NOW,
      policy,
    });
    expect(r.placed?.propletId).toBe('pod-9');
    expect(r.placed?.explanation.notes.map((n) => n.message)).toContain('no external proplet can take the task (preferred); using k8s proplet pod-9 instead');
  });
});

describe("the seed's examples", () => {
  const fleet = [
    aProplet('esp32-1').esp32().withCapabilities('wasm', 'sensor', 'wifi').heardAt(NOW - 5_000).build(),
    aProplet('esp32-2').esp32().withCapabilities('wasm', 'wifi').heardAt(NOW - 5_000).build(),
    aProplet('rpi-1').ofType('external').device('rpi').withCapabilities('wasm', 'sensor').withCapacity({ cpu: '4', memory: '4Gi' }).build(),
    aProplet('box-1').ofType('external').device('linux').withCapabilities('wasm', 'sensor').build(),
    aProplet('pod-1').ofType('k8s').withCapabilities('wasm').withCapacity({ cpu: '2', memory: '4Gi' }).build(),
    aProplet('pod-2').ofType('k8s').withCapabilities('wasm').withCapacity({ cpu: '4', memory: '8Gi' }).build(),
  ];
  const sensorTask = aTask('sensor-1', {
    name: 'read_temperature',
    preferredPropletType: 'external',
    fitsWamr: true,
    propletSelector: { matchDeviceTypes: ['esp32', 'rpi'], matchCapabilities: ['sensor'] },
  });
  const mlTask = aTask('ml-1', { name: 'infer', preferredPropletType: 'k8s', resourceRequirements: { cpu: '1', memory: '2Gi' } });

  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: a sensor task preferring external ESP32/RPi with capability sensor lands on a matching device', (policy) => {
    const r = place(sensorTask, fleet, empty, initialPolicyState(), { now: NOW, policy });
    expect(['esp32-1', 'rpi-1']).toContain(r.placed?.propletId);
    expect(r.placed?.explanation.reasons.map((x) => x.message)).toEqual([
      '3 proplets are not device type esp32 or rpi, e.g. box-1, pod-1, pod-2',
      '1 proplet lacks capability sensor, e.g. esp32-2',
    ]);
  });

  it('an ML task preferring Kubernetes with 1 CPU / 2Gi lands on a k8s proplet with room', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x', 'pod-2', { cpuMillis: 3500, memoryBytes: 0 });
    const r = place(mlTask, fleet, ledger, initialPolicyState(), { now: NOW });
    expect(r.placed).toMatchObject({ propletId: 'pod-1', propletType: 'k8s' });
  });

  it('…falls back to an external proplet when no k8s proplet has room, and explains', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x', 'pod-1', { cpuMillis: 1500, memoryBytes: 0 });
    ledger.reserve('y', 'pod-2', { cpuMillis: 0, memoryBytes: 7 * 2 ** 30 });
    const r = place(mlTask, fleet, ledger, initialPolicyState(), { now: NOW, policy: 'resource-aware' });
    expect(r.placed?.propletType).toBe('external');
    // rpi-1 reports both and keeps half free; box-1 reports nothing, so it counts as free (1 / (1 + 0 tasks))
    // and wins; the ESP32s take no start without a known size.
    expect(r.placed?.propletId).toBe('box-1');
    const text = explanationText(placedOf(r).explanation);
    expect(text).toContain('1 proplet lacks room for cpu 1 (most free: 500m), e.g. pod-1');
    expect(text).toContain('1 proplet lacks room for memory 2Gi (most free: 1Gi), e.g. pod-2');
    expect(text).toContain('no k8s proplet can take the task (preferred); using external proplet box-1 instead');
    expect(text).toContain(
      'box-1 does not report cpu, so the cpu request 1 did not constrain it; 1 of 2 feasible proplets do not report cpu and are not constrained by it, e.g. box-1',
    );
    expect(text).toContain('2 proplets are WAMR devices that take starts of at most 1023 bytes (the start size is unknown), e.g. esp32-1, esp32-2');
  });

  it('…and is unschedulable, with every reason, when nothing has room', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x', 'pod-1', { cpuMillis: 2000, memoryBytes: 0 });
    ledger.reserve('y', 'pod-2', { cpuMillis: 4000, memoryBytes: 0 });
    const onlyReporting = fleet.filter((p) => p.capacity.cpuMillis !== undefined);
    ledger.reserve('z', 'rpi-1', { cpuMillis: 3500, memoryBytes: 0 });
    const r = place(mlTask, onlyReporting, ledger, initialPolicyState(), { now: NOW });
    expect(r.unschedulable?.reasons).toEqual(['cpu']);
    expect(r.unschedulable?.explanation.reasons[0]?.message).toBe('3 proplets lack room for cpu 1 (most free: 500m), e.g. rpi-1, pod-1, pod-2');
  });
});

describe('hybrid without a preference', () => {
  const proplets = [aProplet('pod-1').ofType('k8s').build(), aProplet('dev-1').ofType('external').build()];
  const hybrid = (task: SchedulingTask, extra: Partial<PlaceOptions> = {}): string | undefined =>
    place(task, proplets, empty, initialPolicyState(), { now: NOW, policy: 'hybrid', ...extra }).placed?.propletId;

  it.each([
    { what: 'a compute token in the name', task: aTask('t', { name: 'my-ml-job' }), to: 'pod-1' },
    { what: 'an edge token in the name', task: aTask('t', { name: 'read_sensor' }), to: 'dev-1' },
    { what: 'an edge token in the image path', task: aTask('t', { name: 'run', imageUrl: 'https://registry.example/iot/blink.wasm' }), to: 'dev-1' },
    { what: 'a compute token in a label value', task: aTask('t', { name: 'run', labels: { workload: 'Batch' } }), to: 'pod-1' },
  ])('$what → $to', ({ task, to }) => {
    // random 0.99 would send an unclassified task to external; the classification must win.
    expect(hybrid(task, { random: 0.99 })).toBe(to);
    expect(hybrid(task, { random: 0 })).toBe(to);
  });

  it('uses the configured keywords instead of the defaults', () => {
    expect(hybrid(aTask('t', { name: 'render-frames' }), { computeKeywords: ['render'], random: 0.99 })).toBe('pod-1');
    expect(hybrid(aTask('t', { name: 'read-sensor' }), { edgeKeywords: ['thermo'], random: 0 })).toBe('pod-1');
  });

  it('sends an unclassified task to k8s when the injected number is below loadBalancingRatio', () => {
    const task = aTask('t', { name: 'sensorial-add' });
    expect(hybrid(task, { random: 0.49 })).toBe('pod-1');
    expect(hybrid(task, { random: 0.5 })).toBe('dev-1');
    expect(hybrid(task, { random: 0.1, loadBalancingRatio: 0.05 })).toBe('dev-1');
  });

  it('splits unclassified tasks by the ratio over many draws', () => {
    let k8s = 0;
    for (let i = 0; i < 1000; i++) if (hybrid(aTask('t'), { random: i / 1000, loadBalancingRatio: 0.3 }) === 'pod-1') k8s++;
    expect(k8s).toBe(300);
  });

  it('explains its classification', () => {
    const r = place(aTask('t', { name: 'my-ml-job' }), proplets, empty, initialPolicyState(), { now: NOW });
    expect(r.placed?.explanation.notes[0]?.message).toBe('hybrid: compute task (token "ml" in name), so prefers k8s');
  });

  it('roundrobin and resource-aware do not classify: no preference means any kind', () => {
    const r = place(aTask('t', { name: 'read-sensor' }), proplets, empty, initialPolicyState(), { now: NOW, policy: 'resource-aware' });
    expect(r.placed?.propletId).toBe('dev-1'); // equal shares: smaller id
    const r2 = place(aTask('t', { name: 'my-ml-job' }), proplets, empty, initialPolicyState(), { now: NOW, policy: 'resource-aware' });
    expect(r2.placed?.propletId).toBe('dev-1');
  });
});

describe('explanations', () => {
  it('stay under 4 KB with 10,000 rejecting proplets and many distinct reasons', () => {
    const caps = Array.from({ length: 200 }, (_, i) => `capability-with-a-long-name-${i}`);
    const proplets: Candidate[] = [];
    for (let i = 0; i < 10_000; i++) {
      const id = `proplet-with-a-rather-long-identifier-${'x'.repeat(100)}-${i}`;
      // Each proplet has every capability but one, so the 200 capability reasons all occur.
      proplets.push(aProplet(id).health(i % 7 === 0 ? 'offline' : 'healthy').withCapabilities(...caps.filter((_, j) => j !== i % 200)).build());
    }
    const task = aTask('t', { propletSelector: { matchCapabilities: caps, matchLabels: { zone: 'eu' } } });
    const r = place(task, proplets, empty, initialPolicyState(), { now: NOW });
    const e = unschedulableOf(r).explanation;
    expect(Buffer.byteLength(JSON.stringify(e), 'utf8')).toBeLessThanOrEqual(MAX_EXPLANATION_BYTES);
    expect(e.considered).toBe(10_000);
    expect(e.omitted).toBeGreaterThan(0);
    expect(e.reasons[0]?.message).toMatch(/^1,429 proplets are offline, e\.g\. /);
    expect(e.reasons.length).toBeGreaterThan(3);
    expect(explanationText(e)).toContain(`(${e.omitted} more left out)`);
  });

  it('come out in the same order whatever the order of the proplets', () => {
    const proplets = [
      aProplet('a').health('offline').build(),
      aProplet('b').withCapabilities('x').build(),
      aProplet('c').cordoned().build(),
      aProplet('d').health('failed').build(),
    ];
    const task = aTask('t', { propletSelector: { matchCapabilities: ['x', 'y'] } });
    const keys = (ps: Candidate[]): string[] =>
      unschedulableOf(place(task, ps, empty, initialPolicyState(), { now: NOW })).explanation.reasons.map((r) => r.key);
    expect(keys(proplets)).toEqual(['health:failed', 'health:offline', 'cordoned', 'capability:y']);
    expect(keys([...proplets].reverse())).toEqual(keys(proplets));
  });

  it('reason sets compare equal when only counts and examples change', () => {
    const task = aTask('t', { propletSelector: { matchCapabilities: ['sensor'] } });
    const a = unschedulableOf(place(task, [aProplet('a').build()], empty, initialPolicyState(), { now: NOW }));
    const b = unschedulableOf(place(task, [aProplet('a').build(), aProplet('b').build()], empty, initialPolicyState(), { now: NOW }));
    const c = unschedulableOf(place(task, [aProplet('a').health('offline').build()], empty, initialPolicyState(), { now: NOW }));
    expect(sameReasons(a.reasons, b.reasons)).toBe(true);
    expect(sameReasons(a.reasons, c.reasons)).toBe(false);
    expect(sameReasons(['x', 'y'], ['y', 'x'])).toBe(true);
    expect(sameReasons(['x'], ['x', 'y'])).toBe(false);
  });
});

describe('invalid input', () => {
  it('throws an InvalidError naming the field for a bad requirement', () => {
    expect(() => place(aTask('t', { resourceRequirements: { memory: '2 GB' } }), [], empty, initialPolicyState(), { now: NOW })).toThrow(
      /resourceRequirements\.memory/,
    );
  });
  it('throws an InvalidError naming the field for a bad capacity', () => {
    expect(() => aProplet('p').withCapacity({ cpu: 'lots' }).build()).toThrow(/capacity\.cpu/);
  });
});

describe('the event contract', () => {
  it('takes a TaskSpec as it is; preferredPropletType any means no preference', () => {
    const spec = TaskSpecSchema.parse({ name: 'my-ml-job', resourceRequirements: { memory: '1Gi' }, propletSelector: { matchCapabilities: ['wasm'] } });
    expect(spec.preferredPropletType).toBe('any');
    const proplets = [aProplet('dev-1').ofType('external').withCapabilities('wasm').build(), aProplet('pod-1').withCapabilities('wasm').build()];
    const r = place({ id: 't1', ...spec }, proplets, empty, initialPolicyState(), { now: NOW, random: 0.99 });
    expect(placedOf(r).propletId).toBe('pod-1'); // hybrid classified it as compute; `any` did not count as a preference
    expect(placedOf(r).explanation.notes.some((n) => n.kind === 'preference')).toBe(false);
  });

  it('keys a channel as domain/channel', () => {
    expect(channelKey({ domainId: 'propeller', channelId: 'esp-7' })).toBe('propeller/esp-7');
  });
});
