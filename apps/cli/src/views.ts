import { formatDuration } from '@propeller/config';
import { cell, details, table } from './output';

/**
 * How REST answers look to people. These read the API's snake_case JSON loosely (a field the API does
 * not send shows as `-`), so a newer API with more fields never breaks the CLI.
 */
type Json = Record<string, unknown>;

const str = (v: unknown): string => cell(v);

/** `{offset, limit, total}` as "3 of 12 (offset 0)". */
export function pageLine(page: Json, noun: string): string {
  const items = Object.values(page).find(Array.isArray) as unknown[] | undefined;
  const shown = items?.length ?? 0;
  const total = typeof page['total'] === 'number' ? page['total'] : shown;
  const offset = typeof page['offset'] === 'number' ? page['offset'] : 0;
  return `${shown} of ${total} ${noun}${offset > 0 ? ` (from offset ${offset})` : ''}`;
}

/** `propeller proplets list`. */
export function propletsTable(page: Json): string {
  const proplets = (page['proplets'] as Json[] | undefined) ?? [];
  if (proplets.length === 0) return `no proplets (${pageLine(page, 'proplets')})`;
  const rows = proplets.map((p) => [
    str(p['id']),
    str(p['type']),
    str(p['health']),
    p['cordoned'] === true ? 'yes' : 'no',
    str(p['device_type']),
    str(p['capabilities']),
    str(p['labels']),
    `${str(p['running_task_count'])}/${str(p['task_count'])}`,
  ]);
  return `${table(['ID', 'TYPE', 'HEALTH', 'CORDONED', 'DEVICE', 'CAPABILITIES', 'LABELS', 'RUNNING/TASKS'], rows)}\n${pageLine(page, 'proplets')}`;
}

/** `propeller proplets get` and the answer of a proplet write. */
export function propletDetails(p: Json): string {
  const channel = (p['channel'] ?? {}) as Json;
  return details([
    ['id', p['id']],
    ['type', p['type']],
    ['health', `${str(p['health'])} (for ${str(p['health_age_seconds'])} s, since ${str(p['health_observed_at'])})`],
    ['cordoned', p['cordoned'] === true ? 'yes' : 'no'],
    ['device type', p['device_type']],
    ['capabilities', p['capabilities']],
    ['labels', p['labels']],
    ['capacity', p['capacity']],
    ['max tasks', p['max_tasks'] ?? 'unbounded'],
    ['dialect', p['dialect']],
    ['channel', `${str(channel['domain_id'])}/${str(channel['channel_id'])} (${str(channel['layout'])}${channel['per_proplet_topics'] === true ? ', per-proplet topics' : ''})`],
    ['tasks', `${str(p['running_task_count'])} running of ${str(p['task_count'])}`],
    ['owner', p['owner']],
    ['registered', p['registered_at']],
    ['updated', p['updated_at']],
  ]);
}

/** `propeller tasks list`. */
export function tasksTable(page: Json): string {
  const tasks = (page['tasks'] as Json[] | undefined) ?? [];
  if (tasks.length === 0) return `no tasks (${pageLine(page, 'tasks')})`;
  const rows = tasks.map((t) => [str(t['id']), str(t['name']), str(t['status']), str(t['proplet_id']), str(t['attempt']), str(t['created_at'])]);
  return `${table(['ID', 'NAME', 'STATUS', 'PROPLET', 'ATTEMPT', 'CREATED'], rows)}\n${pageLine(page, 'tasks')}`;
}

/** `propeller tasks get` and the answer of a task write. */
export function taskDetails(t: Json): string {
  const entries: Array<[string, unknown]> = [
    ['id', t['id']],
    ['name', t['function_name'] === undefined || t['function_name'] === t['name'] ? t['name'] : `${str(t['name'])} (calls ${str(t['function_name'])})`],
    ['status', `${str(t['status'])} (state ${str(t['state'])})`],
    ['proplet', t['proplet_id']],
    ['attempt', t['max_attempts'] === undefined ? t['attempt'] : `${str(t['attempt'])} of ${str(t['max_attempts'])}`],
    ['inputs', t['inputs']],
    ['module', moduleLine(t)],
    ['selector', selectorLine(t['proplet_selector'])],
    ['preferred', t['preferred_proplet_type']],
    ['timeout', typeof t['timeout_ms'] === 'number' ? `${formatDuration(t['timeout_ms'])} per attempt` : t['timeout_ms'] === null ? 'none' : undefined],
  ];
  if (t['results'] !== undefined && t['results'] !== null) entries.push(['results', typeof t['results'] === 'string' ? t['results'] : JSON.stringify(t['results'])]);
  if (typeof t['error'] === 'string' && t['error'] !== '') entries.push(['error', t['error']]);
  const reasons = t['unschedulable_reasons'];
  if (Array.isArray(reasons) && reasons.length > 0) entries.push(['waiting because', reasons.join('; ')]);
  if (typeof t['explanation'] === 'string' && t['explanation'] !== '') entries.push(['placed because', t['explanation']]);
  entries.push(['created', t['created_at']], ['updated', t['updated_at']]);
  return details(entries);
}

/** `match_capabilities: [gpu]` as `capabilities gpu`; each rule on its own, `; `-separated. */
export function selectorLine(selector: unknown): string {
  const entries = Object.entries((selector ?? {}) as Json).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '-';
  return entries.map(([k, v]) => `${k.replace(/^match_/, '').replace(/_/g, ' ')} ${cell(v)}`).join('; ');
}

function moduleLine(t: Json): string {
  const m = t['module'] as Json | null | undefined;
  if (m !== null && m !== undefined) return `${str(m['digest'])} (${str(m['size'])} bytes, ${str(m['source'])})`;
  return str(t['image_url']);
}

/** `propeller tasks events`: the timeline, oldest first. */
export function eventsTable(events: Json[]): string {
  if (events.length === 0) return 'no events';
  return table(
    ['SEQ', 'AT', 'TYPE', 'SUMMARY'],
    events.map((e) => [str(e['seq']), str(e['at'] ?? e['occurred_at']), str(e['type']), str(e['summary'])]),
  );
}

/** `propeller sites list`. */
export function sitesTable(page: Json): string {
  const sites = (page['sites'] as Json[] | undefined) ?? [];
  if (sites.length === 0) return `no sites (${pageLine(page, 'sites')})`;
  const rows = sites.map((s) => {
    const p = (s['proplets'] ?? {}) as Json;
    return [str(s['site']), str(p['total']), str(p['healthy']), str(p['unknown']), str(p['offline']), str(p['failed']), evacuationLine((s['evacuation'] ?? {}) as Json)];
  });
  return `${table(['SITE', 'PROPLETS', 'HEALTHY', 'UNKNOWN', 'OFFLINE', 'FAILED', 'EVACUATION'], rows)}\n${pageLine(page, 'sites')}`;
}

/** A site's breaker in one line: `paused since …`, `resumed by operator at …`, or `active`. */
export function evacuationLine(e: Json): string {
  const share = typeof e['share'] === 'number' ? ` (share ${Math.round(e['share'] * 100)}%${typeof e['threshold'] === 'number' ? ` > ${Math.round(e['threshold'] * 100)}%` : ''})` : '';
  if (e['paused'] === true) return `PAUSED since ${str(e['paused_at'])}${share}`;
  if (e['resumed_at'] !== undefined) return `active (resumed by ${str(e['resumed_by'])} at ${str(e['resumed_at'])})`;
  return 'active';
}

/** The result of a task as `propeller run` and `tasks results` print it: strings as they are, other JSON compact. */
export function resultText(results: unknown): string {
  return typeof results === 'string' ? results : JSON.stringify(results);
}

/** `propeller admin dlq list`: SEQ is what `admin dlq replay` takes. */
export function deadLettersTable(items: Json[]): string {
  if (items.length === 0) return 'the dead-letter queue is empty';
  return table(
    ['SEQ', 'CONSUMER', 'EVENT', 'AGGREGATE', 'ATTEMPTS', 'ERROR', 'DEAD SINCE'],
    items.map((d) => {
      const e = (d['error'] ?? {}) as Json;
      const aggregate = d['aggregate'] === undefined || d['aggregate'] === null ? d['aggregate_id'] : `${str(d['aggregate'])}/${str(d['aggregate_id'])}`;
      return [str(d['seq']), str(d['consumer']), str(d['type']), str(aggregate), str(d['attempts']), typeof e === 'object' ? `${str(e['code'])}: ${str(e['message'])}` : str(e), str(d['dead_at'])];
    }),
  );
}
