import { parseCommand, type AnyCommand, type CommandDataInput, type CommandName } from '../commands';

/** Fixed clock for decider tests. */
export const AT = '2026-11-27T13:00:00.000Z';

/** A command as its owner receives it: through the real schema, with defaults applied. */
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
