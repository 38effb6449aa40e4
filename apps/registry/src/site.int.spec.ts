import { EventStore, Lease } from '@propeller/eventstore';
import { LEASE_NAMES } from '@propeller/events';
import { openWorld, type RegistryWorld } from './testing/world';

// The evacuation breaker of a site over commands: pause (fenced by the health judge's lease) and resume.

const measurement = { site: 'plant-a', share: 0.6, threshold: 0.55, offline: 4, failed: 2, total: 10 };

describe('site evacuation breaker over commands', () => {
  let w: RegistryWorld;
  let judge: Lease;
  let token: number;

  beforeAll(async () => {
    w = await openWorld();
    judge = (await Lease.open(w.nc, w.names, LEASE_NAMES.healthJudge, { holder: 'judge-1' })).start();
    token = await judge.waitUntilHeld(5_000);
  });

  afterAll(async () => {
    await judge?.release();
    await w?.close();
  });

  const siteEvents = async (site: string) => (await new EventStore(w.nc, w.names).load('site', site)).events;

  it('pauses once with the judge token, and resumes once', async () => {
    const paused = await w.send('site.pauseEvacuation', measurement, { fencingToken: token });
    expect(paused.sequences).toHaveLength(1);
    expect((await w.send('site.pauseEvacuation', { ...measurement, share: 0.7, offline: 5 }, { fencingToken: token })).sequences).toEqual([]);

    const resumed = await w.send('site.resumeEvacuation', { site: 'plant-a', by: 'operator' });
    expect(resumed.sequences).toHaveLength(1);
    expect((await w.send('site.resumeEvacuation', { site: 'plant-a', by: 'operator' })).sequences).toEqual([]);

    const events = await siteEvents('plant-a');
    expect(events.map((e) => e.type)).toEqual(['SiteEvacuationPaused', 'SiteEvacuationResumed']);
    expect(events[0]?.data).toMatchObject({ ...measurement, fencingToken: token });
    expect(events[1]?.data).toMatchObject({ site: 'plant-a', by: 'operator' });
  });

  it('refuses a pause from a judge whose lease is gone as NotLeader, and one without a token as Invalid', async () => {
    await expect(w.send('site.pauseEvacuation', { ...measurement, site: 'plant-b' }, { fencingToken: token + 1000 })).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(w.send('site.pauseEvacuation', { ...measurement, site: 'plant-b' })).rejects.toMatchObject({ code: 'Invalid' });
    expect(await siteEvents('plant-b')).toEqual([]);
  });

  it('answers a resume of a site that never paused with no events', async () => {
    const reply = await w.send('site.resumeEvacuation', { site: 'plant-c', by: 'breakerWindow', share: 0.1 });
    expect(reply).toMatchObject({ ok: true, aggregateId: 'plant-c', sequences: [] });
  });
});
