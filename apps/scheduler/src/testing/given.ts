import type { TaskEvent } from '@propeller/events';
import { AT } from '@propeller/events/testing';

export { AT, command, given } from '@propeller/events/testing';

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
