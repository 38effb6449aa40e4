import type { PropletType } from '@propeller/events';
import { CapacityLedger } from './ledger';
import { initialPolicyState, place, type PolicyState } from './place';
import { firstRejection, otherWamrHeard, noteWamrHeard, taskFacts } from './rules';
import { aProplet, aTask, prng, pick, some } from './testing';
import type { Candidate, PolicyName, SchedulingTask } from './types';

const NOW = 1_700_000_000_000;


function randomFleet(rnd: () => number, n: number): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const b = aProplet(`p${i}`)
      .health(pick(rnd, ['healthy', 'healthy', 'healthy', 'offline', 'unknown'] as const))
      .withCapabilities(...some(rnd, ['wasm', 'sensor', 'gpu']))
      .withLabels(rnd() < 0.5 ? { zone: pick(rnd, ['eu', 'us']) } : {});
    if (rnd() < 0.3) b.esp32(`d/ch-${Math.floor(rnd() * 4)}`).heardAt(NOW - Math.floor(rnd() * 60_000));
    else b.ofType(pick(rnd, ['k8s', 'external'] as const)).device(pick(rnd, ['linux', 'rpi']));
    if (rnd() < 0.6) b.withCapacity({ ...(rnd() < 0.7 ? { cpu: pick(rnd, ['1', '2', '500m']) } : {}), ...(rnd() < 0.7 ? { memory: pick(rnd, ['1Gi', '4Gi']) } : {}) });
    if (rnd() < 0.3) b.withMaxTasks(Math.floor(rnd() * 3));
    if (rnd() < 0.1) b.cordoned();
    out.push(b.build());
  }
  return out;
}

function randomTask(rnd: () => number, i: number): SchedulingTask {
  return aTask(`t${i}`, {
    name: pick(rnd, ['add', 'my-ml-job', 'read-sensor']),
    ...(rnd() < 0.4 ? { preferredPropletType: pick(rnd, ['k8s', 'external', 'any'] as const) } : {}),
    ...(rnd() < 0.5 ? { wamrStartBytes: pick(rnd, [200, 1023, 1024, 4000]) } : {}),
    propletSelector: {
      ...(rnd() < 0.3 ? { matchCapabilities: some(rnd, ['wasm', 'sensor', 'gpu']) } : {}),
      ...(rnd() < 0.2 ? { matchLabels: { zone: pick(rnd, ['eu', 'us']) } } : {}),
      ...(rnd() < 0.2 ? { matchTypes: [pick(rnd, ['k8s', 'external'] as const)] } : {}),
      ...(rnd() < 0.05 ? { propletId: `p${Math.floor(rnd() * 40)}` } : {}),
    },
    ...(rnd() < 0.5 ? { resourceRequirements: { ...(rnd() < 0.6 ? { cpu: pick(rnd, ['250m', '1']) } : {}), ...(rnd() < 0.6 ? { memory: pick(rnd, ['512Mi', '2Gi']) } : {}) } } : {}),
  });
}

/** The proplets that pass every rule, judged one by one with the named predicates. */
function feasibleOneByOne(task: SchedulingTask, fleet: Candidate[], ledger: CapacityLedger): Candidate[] {
  const t = taskFacts(task);
  const heard = new Map<string, string[]>();
  for (const c of fleet) noteWamrHeard(c, heard, NOW);
  return fleet.filter((c) => firstRejection(c, t, ledger.get(c.id)) === undefined && !(c.dialect === 'wamr' && otherWamrHeard(c, heard)));
}

describe('the single pass agrees with the rules judged one proplet at a time', () => {
  it.each<PolicyName>(['roundrobin', 'resource-aware', 'hybrid'])('%s: 300 random decisions over random fleets', (policy) => {
    const rnd = prng(policy.length * 7919);
    for (let round = 0; round < 30; round++) {
      const fleet = randomFleet(rnd, 40);
      const ledger = new CapacityLedger();
      let state: PolicyState = initialPolicyState();
      for (let i = 0; i < 10; i++) {
        const task = randomTask(rnd, round * 100 + i);
        const feasible = feasibleOneByOne(task, fleet, ledger);
        const r = place(task, fleet, ledger, state, { now: NOW, policy, random: rnd() });
        state = r.state;
        const counted = (r.placed ?? r.unschedulable).explanation;
        expect(counted.feasible).toBe(feasible.length);
        expect(counted.reasons.filter((x) => x.count > 0).reduce((n, x) => n + x.count, 0)).toBe(fleet.length - feasible.length);
        if (r.placed === undefined) {
          expect(feasible).toEqual([]);
          continue;
        }
        expect(feasible.map((c) => c.id)).toContain(r.placed.propletId);
        // A preference is honoured whenever the preferred type has a feasible proplet.
        const pref: PropletType | undefined = task.preferredPropletType === 'any' ? undefined : task.preferredPropletType;
        if (pref !== undefined && feasible.some((c) => c.type === pref)) expect(r.placed.propletType).toBe(pref);
        ledger.reserve(task.id, r.placed.propletId, { cpuMillis: taskFacts(task).cpuMillis, memoryBytes: taskFacts(task).memoryBytes });
      }
    }
  });
});
