import { CapacityLedger } from './ledger';
import { initialPolicyState, place, type PlaceOptions } from './place';
import { describeRejection, firstRejection, taskFacts } from './rules';
import { aProplet, aTask, placedOf } from './testing';
import type { Candidate, SchedulingTask } from './types';

const NOW = 1_700_000_000_000;
const opts: PlaceOptions = { now: NOW, policy: 'resource-aware' };
const busy = new CapacityLedger();
busy.reserve('t-old-1', 'full-1', { cpuMillis: 1500, memoryBytes: 2 ** 30 });
busy.reserve('t-old-2', 'limited', { cpuMillis: 0, memoryBytes: 0 });

interface RuleCase {
  rule: string;
  task: SchedulingTask;
  rejected: Candidate;
  accepted: Candidate;
  /** The one-proplet sentence (STYLE.md rule 11). */
  sentence: string;
  /** The counted reason as it appears in the explanation. */
  message: string;
  /** Reason keys when the rejected proplet is the only one (default: just this rule's). */
  aloneKeys?: string[];
}

const cases: RuleCase[] = [
  {
    rule: 'pin',
    task: aTask('t1', { propletSelector: { propletId: 'p-ok' } }),
    rejected: aProplet('p-other').build(),
    accepted: aProplet('p-ok').build(),
    sentence: 'proplet p-other is not the pinned proplet p-ok',
    message: '1 proplet is not the pinned proplet p-ok, e.g. p-other',
    aloneKeys: ['pin:p-ok', 'pinUnknown'],
  },
  {
    rule: 'health',
    task: aTask('t1'),
    rejected: aProplet('p-off').health('offline').build(),
    accepted: aProplet('p-ok').build(),
    sentence: 'proplet p-off is offline',
    message: '1 proplet is offline, e.g. p-off',
  },
  {
    rule: 'health (unknown until the first heartbeat)',
    task: aTask('t1'),
    rejected: aProplet('p-new').health('unknown').build(),
    accepted: aProplet('p-ok').build(),
    sentence: 'proplet p-new is unknown (no heartbeat yet)',
    message: '1 proplet is unknown (no heartbeat yet), e.g. p-new',
  },
  {
    rule: 'cordoned',
    task: aTask('t1'),
    rejected: aProplet('p-c').cordoned().build(),
    accepted: aProplet('p-ok').build(),
    sentence: 'proplet p-c is cordoned',
    message: '1 proplet is cordoned, e.g. p-c',
  },
  {
    rule: 'matchTypes',
    task: aTask('t1', { propletSelector: { matchTypes: ['external'] } }),
    rejected: aProplet('pod-1').ofType('k8s').build(),
    accepted: aProplet('rpi-1').ofType('external').build(),
    sentence: 'proplet pod-1 is not of type external',
    message: '1 proplet is not of type external, e.g. pod-1',
  },
  {
    rule: 'matchDeviceTypes',
    task: aTask('t1', { propletSelector: { matchDeviceTypes: ['rpi', 'esp32'] } }),
    rejected: aProplet('box-1').device('linux').build(),
    accepted: aProplet('rpi-1').device('rpi').build(),
    sentence: 'proplet box-1 is not device type rpi or esp32',
    message: '1 proplet is not device type rpi or esp32, e.g. box-1',
  },
  {
    rule: 'matchCapabilities (all required)',
    task: aTask('t1', { propletSelector: { matchCapabilities: ['wasm', 'sensor'] } }),
    rejected: aProplet('esp32-7').withCapabilities('wasm', 'wifi').build(),
    accepted: aProplet('rpi-2').withCapabilities('wasm', 'sensor', 'wifi').build(),
    sentence: 'proplet esp32-7 lacks capability sensor',
    message: '1 proplet lacks capability sensor, e.g. esp32-7',
  },
  {
    rule: 'matchLabels (all equal)',
    task: aTask('t1', { propletSelector: { matchLabels: { zone: 'eu', tier: 'gold' } } }),
    rejected: aProplet('p-us').withLabels({ zone: 'us', tier: 'gold' }).build(),
    accepted: aProplet('p-eu').withLabels({ zone: 'eu', tier: 'gold', extra: 'x' }).build(),
    sentence: 'proplet p-us does not have label zone=eu',
    message: '1 proplet does not have label zone=eu, e.g. p-us',
  },
  {
    rule: 'maxTasks',
    task: aTask('t1'),
    rejected: aProplet('limited').withMaxTasks(1).build(),
    accepted: aProplet('p-ok').withMaxTasks(1).build(),
    sentence: 'proplet limited is at its task limit',
    message: '1 proplet is at its task limit, e.g. limited',
  },
  {
    rule: 'cpu room after placed tasks',
    task: aTask('t1', { resourceRequirements: { cpu: '1' } }),
    rejected: aProplet('full-1').withCapacity({ cpu: '2' }).build(),
    accepted: aProplet('p-ok').withCapacity({ cpu: '1' }).build(),
    sentence: 'proplet full-1 lacks room for cpu 1',
    message: '1 proplet lacks room for cpu 1 (most free: 500m), e.g. full-1',
  },
  {
    rule: 'memory room after placed tasks',
    task: aTask('t1', { resourceRequirements: { memory: '2Gi' } }),
    rejected: aProplet('full-1').withCapacity({ memory: '2Gi' }).build(),
    accepted: aProplet('p-ok').withCapacity({ memory: '4Gi' }).build(),
    sentence: 'proplet full-1 lacks room for memory 2Gi',
    message: '1 proplet lacks room for memory 2Gi (most free: 1Gi), e.g. full-1',
  },
  {
    rule: 'WAMR start over 1,023 bytes',
    task: aTask('t1', { wamrStartBytes: 1024 }),
    rejected: aProplet('esp32-1').esp32().build(),
    accepted: aProplet('rpi-1').ofType('external').build(),
    sentence: 'proplet esp32-1 is a WAMR device that takes starts of at most 1023 bytes (this start is 1024 bytes)',
    message: '1 proplet is a WAMR device that takes starts of at most 1023 bytes (this start is 1024 bytes), e.g. esp32-1',
  },
];

describe('hard rules', () => {
  it.each(cases)('$rule: rejects with its reason and lets the other proplet through', ({ task, rejected, accepted, sentence, message, aloneKeys }) => {
    const facts = taskFacts(task);
    const r = firstRejection(rejected, facts, busy.get(rejected.id));
    if (r === undefined) throw new Error(`${rejected.id} was not rejected`);
    expect(describeRejection(rejected.id, r)).toBe(sentence);
    expect(firstRejection(accepted, facts, busy.get(accepted.id))).toBeUndefined();

    const result = place(task, [rejected, accepted], busy, initialPolicyState(), opts);
    expect(result.placed?.propletId).toBe(accepted.id);
    expect(result.placed?.explanation.reasons.map((x) => x.message)).toEqual([message]);

    const alone = place(task, [rejected], busy, initialPolicyState(), opts);
    expect(alone.unschedulable?.explanation.reasons.map((x) => x.message)).toContain(message);
    expect(alone.unschedulable?.reasons).toEqual(aloneKeys ?? [r.key]);
  });

  it('a WAMR start that fits in 1,023 bytes is accepted, by size or by flag', () => {
    const esp = aProplet('esp32-1').esp32().heardAt(NOW).build();
    expect(place(aTask('t1', { wamrStartBytes: 1023 }), [esp], busy, initialPolicyState(), opts).placed?.propletId).toBe('esp32-1');
    expect(place(aTask('t1', { fitsWamr: true, wamrStartBytes: 5000 }), [esp], busy, initialPolicyState(), opts).placed?.propletId).toBe('esp32-1');
    const noSize = place(aTask('t1'), [esp], busy, initialPolicyState(), opts);
    expect(noSize.unschedulable?.explanation.reasons[0]?.message).toContain('the start size is unknown');
    const flagged = place(aTask('t1', { fitsWamr: false }), [esp], busy, initialPolicyState(), opts);
    expect(flagged.unschedulable?.explanation.reasons[0]?.message).toContain('this start does not fit');
  });

  it('counts each proplet under the first rule that rejects it, so counts add up', () => {
    const task = aTask('t1', { propletSelector: { matchCapabilities: ['sensor'] } });
    const proplets = [
      aProplet('off-1').health('offline').build(), // offline and lacking sensor: counted as offline only
      aProplet('off-2').health('offline').withCapabilities('sensor').build(),
      aProplet('bare-1').build(),
      aProplet('bare-2').build(),
      aProplet('bare-3').build(),
      aProplet('bare-4').build(),
    ];
    const r = place(task, proplets, busy, initialPolicyState(), opts);
    expect(r.unschedulable?.explanation.reasons.map((x) => x.message)).toEqual([
      '2 proplets are offline, e.g. off-1, off-2',
      '4 proplets lack capability sensor, e.g. bare-1, bare-2, bare-3',
    ]);
    expect(r.unschedulable?.explanation.reasons.reduce((n, x) => n + x.count, 0)).toBe(6);
  });

  it('says when the pinned proplet is not known at all', () => {
    const r = place(aTask('t1', { propletSelector: { propletId: 'ghost' } }), [aProplet('a').build()], busy, initialPolicyState(), opts);
    expect(r.unschedulable?.reasons).toEqual(['pin:ghost', 'pinUnknown']);
    expect(r.unschedulable?.explanation.reasons[0]?.message).toBe('pinned proplet ghost is not known');
  });

  it('says when there are no proplets', () => {
    const r = place(aTask('t1'), [], busy, initialPolicyState(), opts);
    expect(r.unschedulable?.explanation.reasons.map((x) => x.message)).toEqual(['no proplets are known']);
  });
});

describe('WAMR channel rule', () => {
  const task = aTask('t1', { fitsWamr: true, preferredPropletType: 'external' });
  const heard = (id: string, channel: string, agoMs: number, health: Candidate['health'] = 'healthy'): Candidate =>
    aProplet(id).esp32(channel).health(health).heardAt(NOW - agoMs).build();

  it.each([
    { when: 'alone on its channel', peers: [], placed: true },
    { when: 'another WAMR device on the channel was heard 10 s ago', peers: [heard('esp32-b', 'd/shared', 10_000)], placed: false },
    { when: 'the other WAMR device was heard exactly 30 s ago', peers: [heard('esp32-b', 'd/shared', 30_000)], placed: false },
    { when: 'the other WAMR device was last heard 31 s ago', peers: [heard('esp32-b', 'd/shared', 31_000)], placed: true },
    { when: 'the other device is offline but was heard 5 s ago (it still runs starts it sees)', peers: [heard('esp32-b', 'd/shared', 5_000, 'offline')], placed: false },
    { when: 'the recent WAMR device is on another channel', peers: [heard('esp32-b', 'd/other', 1_000)], placed: true },
    {
      when: 'the channel peer heard recently is a wasmtime proplet',
      peers: [aProplet('rpi-1').ofType('external').onChannel('d/shared').heardAt(NOW).health('offline').build()],
      placed: true,
    },
  ])('a WAMR device $when → placed: $placed', ({ peers, placed }) => {
    const esp = heard('esp32-a', 'd/shared', 1_000);
    const r = place(task, [...peers, esp], new CapacityLedger(), initialPolicyState(), { now: NOW });
    if (placed) {
      expect(r.placed?.propletId).toBe('esp32-a');
    } else {
      expect(r.unschedulable?.reasons).toContain('wamrChannel');
      const reason = r.unschedulable?.explanation.reasons.find((x) => x.key === 'wamrChannel');
      expect(reason?.examples).toContain('esp32-a');
      expect(reason?.message).toMatch(
        /WAMR devices? sharing (its|their) channel with another WAMR device heard from in the last 30 s/,
      );
    }
  });

  it('takes its window from the options, and says so', () => {
    const esp = heard('esp32-a', 'd/shared', 1_000);
    const peer = heard('esp32-b', 'd/shared', 45_000);
    const r = place(task, [peer, esp], new CapacityLedger(), initialPolicyState(), { now: NOW, wamrChannelWindowMs: 60_000 });
    expect(r.unschedulable?.explanation.reasons[0]?.message).toMatch(/^2 proplets are WAMR devices sharing their channel with another WAMR device heard from in the last 60 s/);
    expect(place(task, [peer, esp], new CapacityLedger(), initialPolicyState(), { now: NOW }).placed?.propletId).toBe('esp32-a');
  });

  it('two WAMR devices heard on one channel block each other, whichever comes first in the list', () => {
    const a = heard('esp32-a', 'd/shared', 1_000);
    const b = heard('esp32-b', 'd/shared', 2_000);
    for (const list of [
      [a, b],
      [b, a],
    ]) {
      const r = place(task, list, new CapacityLedger(), initialPolicyState(), { now: NOW });
      expect(r.unschedulable?.explanation.reasons[0]?.count).toBe(2);
    }
  });
});

describe('resources a proplet does not report', () => {
  it('do not constrain it, and the explanation says so', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x', 'rpi-1', { cpuMillis: 64_000, memoryBytes: 2 ** 40 });
    const rpi = aProplet('rpi-1').ofType('external').withCapacity({ memory: '8Gi' }).build(); // cpu unknown
    const r = place(aTask('t1', { resourceRequirements: { cpu: '4', memory: '1Gi' } }), [rpi], new CapacityLedger(), initialPolicyState(), {
      now: NOW,
    });
    expect(r.placed?.propletId).toBe('rpi-1');
    const notes = placedOf(r).explanation.notes.map((n) => n.message);
    expect(notes).toContain(
      'rpi-1 does not report cpu, so the cpu request 4 did not constrain it; 1 of 1 feasible proplets do not report cpu and are not constrained by it, e.g. rpi-1',
    );
    expect(notes.some((n) => n.includes('memory'))).toBe(false);
  });

  it('a reported resource still constrains: memory is checked while cpu is not', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('x', 'rpi-1', { cpuMillis: 0, memoryBytes: 7.5 * 2 ** 30 });
    const rpi = aProplet('rpi-1').withCapacity({ memory: '8Gi' }).build();
    const r = place(aTask('t1', { resourceRequirements: { cpu: '4', memory: '1Gi' } }), [rpi], ledger, initialPolicyState(), { now: NOW });
    expect(r.unschedulable?.reasons).toEqual(['memory']);
  });
});
