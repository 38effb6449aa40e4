import { PropletDirectory } from './directory';

const channel = { domainId: 'd', channelId: 'ch', layout: 'messages' as const, perPropletTopics: true };
/** What a heartbeat registration guesses for a device the gateway has not heard `create` from. */
const guessed = { domainId: 'd', channelId: 'ch', layout: 'messages' as const, perPropletTopics: false };

describe('PropletDirectory', () => {
  it('knows a proplet once registered, by reply or by event, with its channel, layout and dialect', () => {
    const d = new PropletDirectory();
    expect(d.status('p1')).toBe('unknown');
    d.registered('p1', channel, 'wasmtime', 5);
    d.apply({ type: 'PropletRegistered', aggregateId: 'p2', seq: 6, data: { channel: { ...channel, layout: 'direct', perPropletTopics: false }, dialect: 'wamr' } });
    expect(d.get('p1')).toEqual({ propletId: 'p1', domainId: 'd', channelId: 'ch', layout: 'messages', perPropletTopics: true, dialect: 'wasmtime', deregistered: false, seq: 5 });
    expect(d.get('p2')).toMatchObject({ layout: 'direct', perPropletTopics: false, dialect: 'wamr' });
    expect(d.size).toBe(2);
  });

  it('marks a heartbeat registration in flight, and forgets it when it fails or the registry knew the proplet', () => {
    const d = new PropletDirectory();
    d.markRegistering('p1');
    expect(d.status('p1')).toBe('registering');
    d.registrationFailed('p1');
    expect(d.status('p1')).toBe('unknown');
    d.markRegistering('p1');
    d.registrationSettled('p1');
    expect(d.status('p1')).toBe('unknown');
    expect(d.get('p1')).toBeUndefined();
  });

  it('keeps what the device registered with when the reply to a late heartbeat registration comes last', () => {
    // The device's create (per-proplet topics) and its first heartbeat travel on two gateway
    // connections; the heartbeat's registration reaches the registry second and records nothing.
    const d = new PropletDirectory();
    d.registered('p1', channel, 'wasmtime', 10);
    d.registrationSettled('p1');
    expect(d.get('p1')?.perPropletTopics).toBe(true);
    // Replies and events arrive in any order: an older one never overwrites a newer one.
    d.apply({ type: 'PropletRegistered', aggregateId: 'p1', seq: 9, data: { channel: guessed, dialect: 'wasmtime' } });
    d.registered('p1', guessed, 'wasmtime', 9);
    expect(d.get('p1')).toMatchObject({ perPropletTopics: true, seq: 10 });
    // The heartbeat registered first, the create updated it: the update wins whichever arrives first.
    const e = new PropletDirectory();
    e.apply({ type: 'PropletUpdated', aggregateId: 'p2', seq: 21, data: { channel } });
    e.registered('p2', guessed, 'wasmtime', 20);
    e.apply({ type: 'PropletRegistered', aggregateId: 'p2', seq: 20, data: { channel: guessed, dialect: 'wasmtime' } });
    e.apply({ type: 'PropletUpdated', aggregateId: 'p2', seq: 21, data: { channel } });
    expect(e.get('p2')).toMatchObject({ perPropletTopics: true, seq: 21 });
  });

  it('follows updates and deregistration, and a new registration revives the proplet', () => {
    const d = new PropletDirectory();
    d.registered('p1', channel, 'wasmtime', 1);
    d.apply({ type: 'PropletUpdated', aggregateId: 'p1', seq: 2, data: { channel: { ...channel, channelId: 'ch2' } } });
    expect(d.get('p1')?.channelId).toBe('ch2');
    d.apply({ type: 'PropletDeregistered', aggregateId: 'p1', seq: 3, data: { reason: 'gone' } });
    expect(d.status('p1')).toBe('deregistered');
    d.apply({ type: 'PropletCordoned', aggregateId: 'p1', seq: 4, data: {} });
    expect(d.status('p1')).toBe('deregistered');
    d.apply({ type: 'PropletRegistered', aggregateId: 'p1', seq: 5, data: { channel, dialect: 'wasmtime' } });
    expect(d.status('p1')).toBe('known');
  });
});
