import { PropletDirectory } from './directory';

const channel = { domainId: 'd', channelId: 'ch', layout: 'messages' as const, perPropletTopics: true };

describe('PropletDirectory', () => {
  it('knows a proplet once registered, by reply or by event, with its channel, layout and dialect', () => {
    const d = new PropletDirectory();
    expect(d.status('p1')).toBe('unknown');
    d.registered('p1', channel, 'wasmtime');
    d.apply({ type: 'PropletRegistered', aggregateId: 'p2', data: { channel: { ...channel, layout: 'direct', perPropletTopics: false }, dialect: 'wamr' } });
    expect(d.get('p1')).toEqual({ propletId: 'p1', domainId: 'd', channelId: 'ch', layout: 'messages', perPropletTopics: true, dialect: 'wasmtime', deregistered: false });
    expect(d.get('p2')).toMatchObject({ layout: 'direct', perPropletTopics: false, dialect: 'wamr' });
    expect(d.size).toBe(2);
  });

  it('marks a heartbeat registration in flight, and forgets it when it fails', () => {
    const d = new PropletDirectory();
    d.markRegistering('p1');
    expect(d.status('p1')).toBe('registering');
    d.registrationFailed('p1');
    expect(d.status('p1')).toBe('unknown');
  });

  it('follows updates and deregistration, and a new registration revives the proplet', () => {
    const d = new PropletDirectory();
    d.registered('p1', channel, 'wasmtime');
    d.apply({ type: 'PropletUpdated', aggregateId: 'p1', data: { channel: { ...channel, channelId: 'ch2' } } });
    expect(d.get('p1')?.channelId).toBe('ch2');
    d.apply({ type: 'PropletDeregistered', aggregateId: 'p1', data: { reason: 'gone' } });
    expect(d.status('p1')).toBe('deregistered');
    d.apply({ type: 'PropletCordoned', aggregateId: 'p1', data: {} });
    expect(d.status('p1')).toBe('deregistered');
    d.apply({ type: 'PropletRegistered', aggregateId: 'p1', data: { channel, dialect: 'wasmtime' } });
    expect(d.status('p1')).toBe('known');
  });
});
