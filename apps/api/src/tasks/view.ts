import { v5 as uuidv5 } from 'uuid';
import { InvalidError, type CommandDataInput, type ModuleRef, type PropletSelector } from '@propeller/events';
import type { TaskPage, TaskView } from '@propeller/read-models';
import { parseDurationMs, TASK_STATE, type CreateTaskBody, type TaskJson, type UpdateTaskBody } from './schemas';

/** Namespace of task ids made from an `Idempotency-Key` (UUIDv5 of the key under it). */
export const IDEMPOTENCY_NAMESPACE = '5b0f6a39-3c1e-5d0b-9a52-7c7e4f0e2d11';

/**
 * The task id of a request carrying `Idempotency-Key`: UUIDv5 of the key, so a retried request names
 * the same task and creates nothing twice. In a batch, item `i` takes the key `<key>/<i>`.
 */
export function taskIdForKey(key: string, index?: number): string {
  return uuidv5(index === undefined ? key : `${key}/${index}`, IDEMPOTENCY_NAMESPACE);
}

/** The REST selector in domain casing; the top-level `proplet_id` pin goes in as `propletId`. */
function selectorOf(body: { proplet_id?: string | undefined; proplet_selector?: CreateTaskBody['proplet_selector'] }): PropletSelector | undefined {
  const s = body.proplet_selector;
  if (s === undefined && body.proplet_id === undefined) return undefined;
  const out: PropletSelector = {};
  const pin = body.proplet_id ?? s?.proplet_id;
  if (pin !== undefined) out.propletId = pin;
  if (s?.match_types !== undefined) out.matchTypes = s.match_types;
  if (s?.match_device_types !== undefined) out.matchDeviceTypes = s.match_device_types;
  if (s?.match_capabilities !== undefined) out.matchCapabilities = s.match_capabilities;
  if (s?.match_labels !== undefined) out.matchLabels = s.match_labels;
  return out;
}

type SpecData = Omit<CommandDataInput<'task.update'>, 'taskId'>;

/** The spec fields of a body in domain casing; only what the client sent, so the scheduler's defaults apply to the rest. */
function specOf(body: UpdateTaskBody, module: ModuleRef | undefined): SpecData {
  const d: Record<string, unknown> = {};
  if (body.name !== undefined) d['name'] = body.name;
  if (body.function_name !== undefined) d['functionName'] = body.function_name;
  if (module !== undefined) d['module'] = module;
  if (body.image_url !== undefined) d['imageUrl'] = body.image_url;
  if (body.inputs !== undefined) d['inputs'] = body.inputs;
  if (body.cli_args !== undefined) d['cliArgs'] = body.cli_args;
  if (body.env !== undefined) d['env'] = body.env;
  if (body.daemon !== undefined) d['daemon'] = body.daemon;
  const selector = selectorOf(body);
  if (selector !== undefined) d['propletSelector'] = selector;
  if (body.preferred_proplet_type !== undefined) d['preferredPropletType'] = body.preferred_proplet_type;
  if (body.resource_requirements !== undefined) d['resourceRequirements'] = body.resource_requirements;
  if (body.max_attempts !== undefined) d['maxAttempts'] = body.max_attempts;
  if (body.timeout !== undefined) d['timeoutMs'] = body.timeout === null ? null : parseDurationMs(body.timeout);
  if (body.labels !== undefined) d['labels'] = body.labels;
  return d as SpecData;
}

/** `task.create` data of a parsed `POST /tasks` body; `module` is the stored upload when the body had `file`. */
export function createTaskData(taskId: string, body: CreateTaskBody, module?: ModuleRef): CommandDataInput<'task.create'> {
  const { start: _start, ...spec } = body;
  return { taskId, ...specOf(spec, module), name: body.name } as CommandDataInput<'task.create'>;
}

/**
 * `task.update` data of a parsed `PUT /tasks/{id}` body. A new `file` replaces the source, so the other
 * source is cleared (`imageUrl: null`, or `module: null` for a new `image_url`).
 */
export function updateTaskData(taskId: string, body: UpdateTaskBody, module?: ModuleRef): CommandDataInput<'task.update'> {
  const d = specOf(body, module) as Record<string, unknown>;
  if (module !== undefined) d['imageUrl'] = null;
  if (body.image_url !== undefined) d['module'] = null;
  if (Object.keys(d).length === 0) throw InvalidError.field('body', body, 'must change at least one field');
  return { taskId, ...d } as CommandDataInput<'task.update'>;
}

/** The REST selector of a domain selector (only the rules that are set). */
function selectorJson(s: PropletSelector): TaskJson['proplet_selector'] {
  return {
    ...(s.propletId === undefined ? {} : { proplet_id: s.propletId }),
    ...(s.matchTypes === undefined ? {} : { match_types: s.matchTypes }),
    ...(s.matchDeviceTypes === undefined ? {} : { match_device_types: s.matchDeviceTypes }),
    ...(s.matchCapabilities === undefined ? {} : { match_capabilities: s.matchCapabilities }),
    ...(s.matchLabels === undefined ? {} : { match_labels: s.matchLabels }),
  };
}

/** One read-model task in REST form: snake_case, the domain `status` plus upstream's numeric `state`. */
export function taskJson(t: TaskView): TaskJson {
  return {
    id: t.id,
    name: t.name,
    function_name: t.functionName,
    status: t.status,
    state: TASK_STATE[t.status],
    module: t.module,
    image_url: t.imageUrl,
    inputs: t.inputs,
    cli_args: t.cliArgs,
    env: t.env,
    daemon: t.daemon,
    proplet_id: t.propletId,
    proplet_selector: selectorJson(t.propletSelector),
    preferred_proplet_type: t.preferredPropletType,
    resource_requirements: t.resourceRequirements,
    max_attempts: t.maxAttempts,
    timeout_ms: t.timeoutMs,
    labels: t.labels,
    owner: t.owner,
    attempt: t.attempt,
    wire_id: t.wireId,
    results: t.results,
    error: t.error,
    failure_reason: t.failureReason,
    unschedulable_reasons: t.unschedulableReasons,
    explanation: t.explanation,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    started_at: t.startedAt,
    scheduled_at: t.scheduledAt,
    running_at: t.runningAt,
    finished_at: t.finishedAt,
    start_time: t.runningAt,
    finish_time: t.finishedAt,
    seq: t.seq,
  };
}

/** A page in REST form: `{offset, limit, total, tasks}`. */
export function taskPageJson(page: TaskPage) {
  return { offset: page.offset, limit: page.limit, total: page.total, tasks: page.tasks.map(taskJson) };
}
