import { ConflictError, NotFoundError } from '@propeller/events';
import type { Liveness, PropellerChange, PropellerPort, PropletRegistration, PropletState, TaskDefinition, TaskState } from '../port/propeller-port';
import { isTerminalTaskStatus } from '../names';

/**
 * FAKE: an in-memory stand-in for Propeller (registry + scheduler + liveness KV) behind
 * `PropellerPort`, for tests only. It keeps the port's contract (idempotent create/register,
 * stop of a terminal task is a no-op) and lets a test play the scheduler and the health monitor
 * with `setTask` / `setProplet`. It schedules nothing by itself.
 */
export class FakePropeller implements PropellerPort {
  /** Every call, as `method(id)`, in order, so tests can count side effects. */
  readonly calls: string[] = [];
  /** Latest liveness written per proplet. */
  readonly liveness = new Map<string, Liveness>();
  private readonly proplets = new Map<string, PropletState & { registration: PropletRegistration }>();
  private readonly taskMap = new Map<string, TaskState & { definition: TaskDefinition }>();
  private readonly listeners = new Set<(c: PropellerChange) => void>();

  async registerProplet(registration: PropletRegistration): Promise<void> {
    this.calls.push(`registerProplet(${registration.id})`);
    const old = this.proplets.get(registration.id);
    const keep = old && old.health !== 'deregistered';
    this.proplets.set(registration.id, {
      id: registration.id,
      type: registration.type,
      health: keep ? old.health : 'unknown',
      taskCount: keep ? old.taskCount : 0,
      ...(keep && old.lastSeenAt ? { lastSeenAt: old.lastSeenAt } : {}),
      registration: structuredClone(registration),
    });
    this.emit({ kind: 'proplet', id: registration.id, owner: registration.owner });
  }

  async deregisterProplet(propletId: string, _reason: string): Promise<void> {
    this.calls.push(`deregisterProplet(${propletId})`);
    const p = this.proplets.get(propletId);
    if (!p || p.health === 'deregistered') return;
    p.health = 'deregistered';
    this.emit({ kind: 'proplet', id: propletId, owner: p.registration.owner });
  }

  async createTask(task: TaskDefinition): Promise<void> {
    this.calls.push(`createTask(${task.id})`);
    if (this.taskMap.has(task.id)) return;
    this.taskMap.set(task.id, { id: task.id, status: 'created', attempts: 0, definition: structuredClone(task) });
    this.emit({ kind: 'task', id: task.id, owner: task.owner });
  }

  async startTask(taskId: string): Promise<void> {
    this.calls.push(`startTask(${taskId})`);
    const t = this.taskMap.get(taskId);
    if (!t) throw new NotFoundError(`task ${taskId} not found`);
    if (t.status !== 'created') return;
    t.status = 'pending';
    this.emit({ kind: 'task', id: taskId, owner: t.definition.owner });
  }

  async stopTask(taskId: string, _reason: string): Promise<void> {
    this.calls.push(`stopTask(${taskId})`);
    const t = this.taskMap.get(taskId);
    if (!t) throw new NotFoundError(`task ${taskId} not found`);
    if (isTerminalTaskStatus(t.status)) return;
    t.status = 'stopped';
    this.emit({ kind: 'task', id: taskId, owner: t.definition.owner });
  }

  async getProplet(propletId: string): Promise<PropletState | undefined> {
    const p = this.proplets.get(propletId);
    if (!p) return undefined;
    const { registration: _r, ...state } = p;
    return structuredClone(state);
  }

  async getTask(taskId: string): Promise<TaskState | undefined> {
    const t = this.taskMap.get(taskId);
    if (!t) return undefined;
    const { definition: _d, ...state } = t;
    return structuredClone(state);
  }

  subscribe(listener: (change: PropellerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async writeLiveness(propletId: string, liveness: Liveness): Promise<void> {
    this.liveness.set(propletId, liveness);
  }

  /** Test control: play the health monitor or a device report for a registered proplet. */
  setProplet(propletId: string, patch: Partial<Omit<PropletState, 'id'>>): void {
    const p = this.proplets.get(propletId);
    if (!p) throw new ConflictError(`proplet ${propletId} is not registered`);
    Object.assign(p, patch);
    this.emit({ kind: 'proplet', id: propletId, owner: p.registration.owner });
  }

  /** Test control: play the scheduler for an existing task. */
  setTask(taskId: string, patch: Partial<Omit<TaskState, 'id'>>): void {
    const t = this.taskMap.get(taskId);
    if (!t) throw new ConflictError(`task ${taskId} does not exist`);
    Object.assign(t, patch);
    this.emit({ kind: 'task', id: taskId, owner: t.definition.owner });
  }

  /** Every task created, with its definition. */
  tasks(): TaskDefinition[] {
    return [...this.taskMap.values()].map((t) => structuredClone(t.definition));
  }

  /** The last registration of a proplet. */
  registrationOf(propletId: string): PropletRegistration | undefined {
    const r = this.proplets.get(propletId)?.registration;
    return r && structuredClone(r);
  }

  private emit(change: PropellerChange): void {
    for (const l of this.listeners) l(change);
  }
}
