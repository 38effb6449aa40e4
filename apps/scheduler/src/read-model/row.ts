import type { TaskEvent } from '@propeller/events';
import type { TaskRowInput } from '@propeller/read-models';
import type { LiveTask } from '../task/state';

const json = (v: unknown): string => JSON.stringify(v);

/**
 * The `tasks` row of a live task: the spec, where the current attempt is, its outcome, and the folded
 * state itself. Pure and fed only from the event (its time and sequence), so a rebuild writes the
 * same rows as the live projection.
 */
export function taskRow(id: string, t: LiveTask, at: { occurredAt: string; seq: number; explanation?: string | null }): TaskRowInput {
  const s = t.spec;
  const placed = t.status === 'scheduled' || t.status === 'running';
  const finished = t.status === 'completed' || t.status === 'failed' || t.status === 'stopped';
  return {
    id,
    name: s.name,
    function_name: s.functionName,
    module: s.module === null ? null : json(s.module),
    image_url: s.imageUrl,
    inputs: json(s.inputs),
    cli_args: json(s.cliArgs),
    env: json(s.env),
    daemon: s.daemon,
    proplet_selector: json(s.propletSelector),
    preferred_proplet_type: s.preferredPropletType,
    resource_requirements: json(s.resourceRequirements),
    max_attempts: s.maxAttempts,
    timeout_ms: s.timeoutMs,
    labels: json(s.labels),
    owner: s.owner === undefined ? null : json(s.owner),
    status: t.status,
    attempt: t.attempt,
    proplet_id: placed || finished ? (t.propletId ?? null) : null,
    wire_id: placed || finished ? (t.wireId ?? null) : null,
    results: t.status === 'completed' ? json(t.results) : null,
    error: t.status === 'failed' ? t.error : null,
    failure_reason: t.status === 'failed' ? t.reason : null,
    unschedulable_reasons: t.status === 'pending' && t.unschedulableReasons !== undefined ? json(t.unschedulableReasons) : null,
    explanation: at.explanation ?? null,
    created_at: t.createdAt,
    updated_at: at.occurredAt,
    started_at: t.startedAt ?? null,
    scheduled_at: placed ? t.scheduledAt : null,
    running_at: t.status === 'running' ? t.runningAt : null,
    finished_at: finished ? t.finishedAt : null,
    state: json(t),
    last_seq: at.seq,
  };
}

/** One line per event for the timeline (`scheduled on rpi-1 (attempt 2)`). */
export function timelineSummary(e: TaskEvent): string {
  switch (e.type) {
    case 'TaskCreated':
      return `created ${e.data.name} (${e.data.module ? `module ${e.data.module.digest.slice(0, 19)}…, ${e.data.module.size} bytes` : `image ${e.data.imageUrl ?? '-'}`})${e.data.startedAt === undefined ? '' : ' and started; waiting for placement'}`;
    case 'TaskUpdated':
      return `updated ${Object.keys(e.data).filter((k) => k !== 'updatedAt').join(', ')}`;
    case 'TaskStarted':
      return 'start requested; waiting for placement';
    case 'TaskScheduled':
      return `scheduled on ${e.data.propletId} (attempt ${e.data.attempt})`;
    case 'TaskDispatched':
      return `start delivered to ${e.data.propletId} (attempt ${e.data.attempt})`;
    case 'TaskRunning':
      return `running on ${e.data.propletId} (attempt ${e.data.attempt}, ${e.data.evidence === 'taskStarted' ? 'proplet reported task_started' : 'start accepted by the broker'})`;
    case 'TaskCompleted':
      return `completed (attempt ${e.data.attempt})`;
    case 'TaskFailed':
      return `failed: ${e.data.error} (attempt ${e.data.attempt})`;
    case 'TaskStopped':
      return `stopped${e.data.reason ? `: ${e.data.reason}` : ''}`;
    case 'TaskEvacuated':
      return `attempt ${e.data.attempt} left ${e.data.fromPropletId}: ${e.data.reason}; pending again as attempt ${e.data.attempt + 1}`;
    case 'TaskUnschedulable':
      return `unschedulable (attempt ${e.data.attempt}): ${e.data.reasons.join('; ')}`;
    case 'TaskResultDiscarded':
      return `result of attempt ${e.data.attempt} discarded (${e.data.reason})`;
    case 'TaskArchived':
      return `archived (${e.data.status})`;
    case 'TaskDeleted':
      return `deleted (was ${e.data.status})`;
    default: {
      const never: never = e;
      return String((never as { type: string }).type);
    }
  }
}
