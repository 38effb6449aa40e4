import type { PropletType } from '@propeller/events';
import type { SchedulingTask } from './types';

/** Default `computeKeywords` of the hybrid policy (from the seed). */
export const DEFAULT_COMPUTE_KEYWORDS: readonly string[] = ['ml', 'ai', 'compute', 'batch'];
/** Default `edgeKeywords` of the hybrid policy (from the seed). */
export const DEFAULT_EDGE_KEYWORDS: readonly string[] = ['sensor', 'iot', 'edge', 'device'];
/** Default `loadBalancingRatio`: share of unclassified tasks preferring Kubernetes. */
export const DEFAULT_LOAD_BALANCING_RATIO = 0.5;

/** How `hybrid` saw a task. */
export type Classification =
  | { kind: 'compute' | 'edge'; token: string; source: 'name' | 'image_url' | `label ${string}` }
  | { kind: 'unclassified' };

const TOKEN_SPLIT = /[-_./:]+/;

/** Whole, lower-cased tokens of a string, split on `-_./:` (`my-ml-job` → my, ml, job). */
export function tokens(s: string): string[] {
  return s
    .toLowerCase()
    .split(TOKEN_SPLIT)
    .filter((t) => t !== '');
}

/** The path of an `image_url` (no scheme, host, query or fragment), so a host name never classifies a task. */
export function imagePath(url: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(.*)$/i.exec(url);
  const path = m === null ? url : (m[1] ?? '');
  return path.replace(/[?#].*$/, '');
}

/**
 * Classifies a task by the whole tokens of its name, then its `image_url` path, then its label
 * values (by key order): the first token that is a compute or edge keyword decides. Whole tokens
 * only, so `sensorial` is not `sensor`.
 */
export function classifyTask(
  task: Pick<SchedulingTask, 'name' | 'imageUrl' | 'labels'>,
  computeKeywords: readonly string[] = DEFAULT_COMPUTE_KEYWORDS,
  edgeKeywords: readonly string[] = DEFAULT_EDGE_KEYWORDS,
): Classification {
  const compute = new Set(computeKeywords.map((k) => k.toLowerCase()));
  const edge = new Set(edgeKeywords.map((k) => k.toLowerCase()));
  const sources: Array<[Exclude<Classification, { kind: 'unclassified' }>['source'], string]> = [['name', task.name]];
  if (task.imageUrl !== undefined && task.imageUrl !== null) sources.push(['image_url', imagePath(task.imageUrl)]);
  for (const k of Object.keys(task.labels ?? {}).sort()) sources.push([`label ${k}`, task.labels?.[k] ?? '']);
  for (const [source, text] of sources) {
    for (const token of tokens(text)) {
      if (compute.has(token)) return { kind: 'compute', token, source };
      if (edge.has(token)) return { kind: 'edge', token, source };
    }
  }
  return { kind: 'unclassified' };
}

/**
 * The proplet type `hybrid` prefers for a task without `preferredPropletType`: compute → k8s,
 * edge → external, unclassified → k8s when `random < ratio` (`random` uniform in [0, 1), drawn by the caller).
 */
export function hybridPreference(c: Classification, random: number, ratio = DEFAULT_LOAD_BALANCING_RATIO): PropletType {
  if (c.kind === 'compute') return 'k8s';
  if (c.kind === 'edge') return 'external';
  return random < ratio ? 'k8s' : 'external';
}
