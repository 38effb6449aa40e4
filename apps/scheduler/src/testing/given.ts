import { parseCommand, type AnyCommand, type CommandDataInput, type CommandName, type TaskEvent } from '@propeller/events';

/** Fixed clock for decider tests. */
export const AT = '2026-11-27T13:00:00.000Z';

/** A command as the scheduler receives it: through the real schema, with defaults applied. */
export function command<N extends CommandName>(name: N, data: CommandDataInput<N>, meta: { fencingToken?: number; issuedAt?: string } = {}) {
  return parseCommand(name, { meta: { correlationId: 'test', issuedAt: meta.issuedAt ?? AT, ...meta }, data }) as Extract<AnyCommand, { name: N }>;
}

interface DeciderLike<C, E, S> {
  initialState(): S;
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/** Given / When / Then for deciders (STYLE.md rule 17): `given(decider, past).when(cmd).then(events)`. */
export function given<C, E, S>(decider: DeciderLike<C, E, S>, past: E[] = []) {
  const state = past.reduce((s, e) => decider.evolve(s, e), decider.initialState());
  return {
    state,
    when(cmd: C) {
      const run = () => decider.decide(cmd, state);
      return {
        then(expected: E[]): void {
          expect(run()).toEqual(expected);
        },
        thenThrows(match: { code: string; message?: RegExp }): void {
          let thrown: unknown;
          try {
            run();
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toMatchObject({ code: match.code });
          if (match.message) expect((thrown as Error).message).toMatch(match.message);
        },
        events: run,
      };
    },
  };
}

/** A fluent history of one task's events for decider tests (STYLE.md rule 18). */
export class TaskHistory {
  readonly events: TaskEvent[] = [];
  constructor(readonly taskId: string) {}
  created(fields: Partial<Extract<TaskEvent, { type: 'TaskCreated' }>['data']> = {}): this {
    this.events.push({
      type: 'TaskCreated',
      data: {
        name: 'add',
        functionName: 'add',
        module: { digest: `sha256:${'ab'.repeat(32)}`, size: 41, source: 'inline' },
        imageUrl: null,
        inputs: ['1', '2'],
        cliArgs: [],
        env: {},
        daemon: false,
        propletSelector: {},
        preferredPropletType: 'any',
        resourceRequirements: {},
        maxAttempts: 3,
        timeoutMs: 600_000,
        labels: {},
        createdAt: AT,
        ...fields,
      },
    });
    return this;
  }
  started(): this {
    this.events.push({ type: 'TaskStarted', data: { startedAt: AT } });
    return this;
  }
  scheduled(propletId: string, attempt: number, wireId: string): this {
    this.events.push({ type: 'TaskScheduled', data: { propletId, attempt, wireId, explanation: 'test', scheduledAt: AT } });
    return this;
  }
  running(propletId: string, attempt: number, wireId: string): this {
    this.events.push({ type: 'TaskRunning', data: { propletId, attempt, wireId, evidence: 'taskStarted', runningAt: AT } });
    return this;
  }
  evacuated(fromPropletId: string, attempt: number, wireId: string, reason = 'proplet failed'): this {
    this.events.push({ type: 'TaskEvacuated', data: { fromPropletId, attempt, wireId, reason, evacuatedAt: AT } });
    return this;
  }
  push(...events: TaskEvent[]): this {
    this.events.push(...events);
    return this;
  }
}
