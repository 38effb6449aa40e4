import { CapacityLedger } from './ledger';
import { matchProplet, PendingQueue } from './pending';
import { aProplet, aTask } from './testing';
import type { SchedulingTask } from './types';

const NOW = 1_700_000_000_000;

function queueOf(...tasks: Array<[SchedulingTask, number]>): PendingQueue {
  const q = new PendingQueue();
  for (const [task, since] of tasks) q.add({ task, since, reasons: [] });
  return q;
}

describe('pending queue', () => {
  it('keeps tasks oldest first, ties by task id, whatever the order they arrive in', () => {
    const q = queueOf([aTask('c'), 30], [aTask('a'), 10], [aTask('z'), 20], [aTask('b'), 20]);
    expect(q.entries().map((e) => e.task.id)).toEqual(['a', 'b', 'z', 'c']);
    q.add({ task: aTask('a'), since: 40, reasons: ['cpu'] }); // re-queued later: moves to the back
    expect(q.entries().map((e) => e.task.id)).toEqual(['b', 'z', 'c', 'a']);
    expect(q.remove('z')).toBe(true);
    expect(q.remove('z')).toBe(false);
    expect(q.size).toBe(3);
    expect(q.get('a')?.reasons).toEqual(['cpu']);
  });

  it('refuses a task whose requirements do not parse', () => {
    const q = new PendingQueue();
    expect(() => q.add({ task: aTask('t', { resourceRequirements: { cpu: 'x' } }), since: 1, reasons: [] })).toThrow(/resourceRequirements\.cpu/);
    expect(q.size).toBe(0);
  });
});

describe('matchProplet', () => {
  const sensorTask = (id: string): SchedulingTask => aTask(id, { propletSelector: { matchCapabilities: ['sensor'] } });
  const gpuTask = (id: string): SchedulingTask => aTask(id, { propletSelector: { matchCapabilities: ['gpu'] } });

  it('wakes only the tasks the joining proplet matches, oldest first', () => {
    const q = queueOf([gpuTask('g1'), 1], [sensorTask('s2'), 3], [sensorTask('s1'), 2], [gpuTask('g2'), 4]);
    const rpi = aProplet('rpi-1').ofType('external').withCapabilities('sensor').build();
    const m = matchProplet(q, rpi, new CapacityLedger(), { now: NOW });
    expect(m.map((x) => [x.taskId, x.propletId])).toEqual([
      ['s1', 'rpi-1'],
      ['s2', 'rpi-1'],
    ]);
    expect(q.size).toBe(4); // nothing is mutated; the caller removes what it schedules
  });

  it('fills the proplet as it goes and never exceeds its capacity', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('running', 'pod-1', { cpuMillis: 500, memoryBytes: 0 });
    const q = queueOf(
      [aTask('t1', { resourceRequirements: { cpu: '1' } }), 1],
      [aTask('t2', { resourceRequirements: { cpu: '1' } }), 2],
      [aTask('t3', { resourceRequirements: { cpu: '1' } }), 3], // would exceed 3 cores
      [aTask('t4', { resourceRequirements: { cpu: '500m' } }), 4], // a smaller, younger task still fits
      [aTask('t5', { resourceRequirements: { cpu: '1m' } }), 5],
    );
    const pod = aProplet('pod-1').withCapacity({ cpu: '3' }).build();
    const m = matchProplet(q, pod, ledger, { now: NOW });
    expect(m.map((x) => x.taskId)).toEqual(['t1', 't2', 't4']);
    const used = 500 + m.reduce((n, x) => n + x.requirements.cpuMillis, 0);
    expect(used).toBeLessThanOrEqual(3000);
    expect(ledger.reserved('pod-1').cpuMillis).toBe(500); // the ledger is only read
  });

  it('respects maxTasks, counting the tasks already placed', () => {
    const ledger = new CapacityLedger();
    ledger.reserve('running', 'dev-1', { cpuMillis: 0, memoryBytes: 0 });
    const q = queueOf([aTask('t1'), 1], [aTask('t2'), 2], [aTask('t3'), 3]);
    const m = matchProplet(q, aProplet('dev-1').withMaxTasks(3).build(), ledger, { now: NOW });
    expect(m.map((x) => x.taskId)).toEqual(['t1', 't2']);
  });

  it('wakes nothing for a proplet that is not healthy or is cordoned', () => {
    const q = queueOf([aTask('t1'), 1]);
    expect(matchProplet(q, aProplet('p').health('unknown').build(), new CapacityLedger(), { now: NOW })).toEqual([]);
    expect(matchProplet(q, aProplet('p').cordoned().build(), new CapacityLedger(), { now: NOW })).toEqual([]);
    expect(matchProplet(q, aProplet('p').build(), new CapacityLedger(), { now: NOW })).toHaveLength(1);
  });

  it('wakes a task pinned to the recovering proplet, and no other pinned task', () => {
    const q = queueOf([aTask('t1', { propletSelector: { propletId: 'other' } }), 1], [aTask('t2', { propletSelector: { propletId: 'p' } }), 2]);
    expect(matchProplet(q, aProplet('p').build(), new CapacityLedger(), { now: NOW }).map((x) => x.taskId)).toEqual(['t2']);
  });

  it('applies the WAMR rules with the channel peers the caller passes', () => {
    const q = queueOf([aTask('big', { wamrStartBytes: 4000 }), 1], [aTask('small', { wamrStartBytes: 600 }), 2]);
    const esp = aProplet('esp32-a').esp32('d/shared').heardAt(NOW).build();
    expect(matchProplet(q, esp, new CapacityLedger(), { now: NOW }).map((x) => x.taskId)).toEqual(['small']);
    const peer = aProplet('esp32-b').esp32('d/shared').heardAt(NOW - 10_000).build();
    expect(matchProplet(q, esp, new CapacityLedger(), { now: NOW, channelPeers: [peer, esp] })).toEqual([]);
    const stalePeer = aProplet('esp32-b').esp32('d/shared').heardAt(NOW - 60_000).build();
    expect(matchProplet(q, esp, new CapacityLedger(), { now: NOW, channelPeers: [stalePeer] }).map((x) => x.taskId)).toEqual(['small']);
  });

  it('explains a match, including a resource the proplet does not report', () => {
    const q = queueOf([aTask('t1', { resourceRequirements: { memory: '1Gi' } }), 1]);
    const [m] = matchProplet(q, aProplet('dev-1').build(), new CapacityLedger(), { now: NOW });
    expect(m?.explanation.notes.map((n) => n.message)).toEqual([
      'placed from the pending queue when proplet dev-1 could take it',
      'dev-1 does not report memory, so the memory request 1Gi did not constrain it',
    ]);
  });
});
