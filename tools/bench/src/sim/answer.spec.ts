import { parseResults, parseTaskStarted, topicsFor, type ChannelRef } from '@propeller/mqtt-protocol';
import { addInputs, answerStart } from './answer';

const ours: ChannelRef = { domainId: 'd1', channelId: 'control', layout: 'messages' };
const shared: ChannelRef = { domainId: 'd1', channelId: 'shared', layout: 'direct' };
const ADD = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';
const start = (o: Record<string, unknown> = {}): string => JSON.stringify({ id: 'w-1', name: 'add', state: 0, file: ADD, inputs: ['40', '2'], proplet_id: 'sim-1', ...o });

describe('simulated proplet answers', () => {
  it('adds string and number inputs as i32, like the example module', () => {
    expect(addInputs(['40', '2'])).toBe(42);
    expect(addInputs([40, 2])).toBe(42);
    expect(addInputs([2147483647, 1])).toBe(-2147483648);
  });

  it('answers a start on its own topic with task_started and then the result, both naming the wire id', () => {
    const a = answerStart('extension', ours, 'sim-1', start({ attempt: 2 }));
    if (a.kind !== 'answer') throw new Error(`expected an answer, got ${a.kind}`);
    expect(a.wireId).toBe('w-1');
    expect(a.messages.map((m) => m.topic)).toEqual([topicsFor(ours).taskStarted, topicsFor(ours).results]);
    const started = parseTaskStarted(a.messages[0]?.payload ?? '');
    expect(started.ok && started.value).toEqual({ task_id: 'w-1', proplet_id: 'sim-1', attempt: 2 });
    const result = parseResults(a.messages[1]?.payload ?? '');
    expect(result.ok && result.value.results).toBe('42');
    expect(result.ok && result.value.task_id).toBe('w-1');
  });

  it('as an upstream proplet sends the result only, on the direct layout', () => {
    const a = answerStart('upstream', shared, 'sim-1', Buffer.from(start()));
    if (a.kind !== 'answer') throw new Error(`expected an answer, got ${a.kind}`);
    expect(a.messages.map((m) => m.topic)).toEqual(['m/d1/c/shared/control/proplet/results']);
  });

  it('drops a start for another proplet on the shared topic', () => {
    expect(answerStart('upstream', shared, 'sim-2', start()).kind).toBe('not_mine');
    expect(answerStart('extension', ours, 'sim-2', start()).kind).toBe('not_mine');
  });

  it('counts a start that breaks the protocol instead of answering it', () => {
    expect(answerStart('extension', ours, 'sim-1', start({ file: undefined })).kind).toBe('invalid');
    expect(answerStart('extension', ours, 'sim-1', '{nope').kind).toBe('invalid');
    expect(answerStart('upstream', shared, 'sim-1', start({ name: 'main' }))).toEqual({ kind: 'invalid', reason: expect.stringMatching(/calls main/) });
  });
});
