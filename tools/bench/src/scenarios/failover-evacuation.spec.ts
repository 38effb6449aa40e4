import { evacuationSamples, type EvacuatedTask } from './failover-evacuation';

const task = (over: Partial<EvacuatedTask>): EvacuatedTask => ({ from: 'sim-1', failedAt: 1_000, scheduledAt: 1_040, started: { propletId: 'sim-2', at: 1_100 }, ...over });
const victims = new Set(['sim-1', 'sim-3']);
const isVictim = (id: string): boolean => victims.has(id);

describe('failover bench: evacuation samples', () => {
  it('measures from failed to the start at a survivor, and keeps failed → scheduled and its dispatch share apart', () => {
    const s = evacuationSamples([task({}), task({ failedAt: 2_000, scheduledAt: 2_300, started: { propletId: 'sim-4', at: 2_900 } })], isVictim);
    expect(s.toStart).toEqual([100, 900]);
    expect(s.toScheduled).toEqual([40, 300]);
    expect(s.scheduledToStart).toEqual([60, 600]);
    expect(s).toMatchObject({ startedOnVictim: 0, notStarted: 0 });
  });

  it('does not count a start that reached a killed proplet as an evacuation', () => {
    const s = evacuationSamples([task({ started: { propletId: 'sim-3', at: 1_050 } })], isVictim);
    expect(s.toStart).toEqual([]);
    expect(s.startedOnVictim).toBe(1);
    expect(s.toScheduled).toEqual([40]);
  });

  it('counts a task whose next start never arrived as not started rather than dropping it silently', () => {
    const s = evacuationSamples([task({ started: undefined }), task({ failedAt: undefined })], isVictim);
    expect(s.toStart).toEqual([]);
    expect(s.notStarted).toBe(2);
    expect(s.toScheduled).toEqual([40]);
  });
});
