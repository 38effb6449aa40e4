import type { PropletSpec, TaskSpec } from './types';

/**
 * The CEL rules of deploy/crds.yaml (`x-kubernetes-validations`), each with the equivalent
 * TypeScript predicate. The API server evaluates the CEL; the operator re-checks with these
 * predicates, so a cluster too old for CEL validation (< 1.25) still gets a clear `Invalid`
 * condition instead of a half-made Deployment. A test asserts the rule strings match the CRD.
 */
export interface SpecRule<S> {
  /** The CEL expression exactly as written in deploy/crds.yaml. */
  readonly rule: string;
  /** The message the API server answers when the rule fails. */
  readonly message: string;
  /** True when the spec satisfies the rule. */
  readonly holds: (spec: S) => boolean;
}

const has = (v: unknown): boolean => v !== undefined && v !== null;

/** CEL rules on `Proplet.spec`. */
export const PROPLET_SPEC_RULES: readonly SpecRule<PropletSpec>[] = [
  {
    rule: "self.type != 'k8s' || (has(self.k8s) && has(self.k8s.image))",
    message: 'spec.k8s.image is required when spec.type is k8s',
    holds: (s) => s.type !== 'k8s' || (has(s.k8s) && has(s.k8s?.image)),
  },
  {
    rule: "self.type != 'external' || !has(self.k8s)",
    message: 'spec.k8s must not be set when spec.type is external',
    holds: (s) => s.type !== 'external' || !has(s.k8s),
  },
  {
    rule: "self.type != 'k8s' || !has(self.external)",
    message: 'spec.external must not be set when spec.type is k8s',
    holds: (s) => s.type !== 'k8s' || !has(s.external),
  },
];

/** CEL rules on `Task.spec`. */
export const TASK_SPEC_RULES: readonly SpecRule<TaskSpec>[] = [
  {
    rule: 'has(self.imageUrl) != has(self.file)',
    message: 'exactly one of spec.imageUrl or spec.file must be set',
    holds: (s) => has(s.imageUrl) !== has(s.file),
  },
];

/** Messages of the rules a spec breaks; empty when it is valid. */
export function brokenRules<S>(rules: readonly SpecRule<S>[], spec: S): string[] {
  return rules.filter((r) => !r.holds(spec)).map((r) => r.message);
}
