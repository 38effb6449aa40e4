import { parseYamlDocuments, readRepoFile } from './repo-files';

/** One RBAC rule as written in a (Cluster)Role. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

/** A request as RBAC sees it. */
export interface RbacRequest {
  verb: string;
  apiGroup: string;
  /** `resource` or `resource/subresource`. */
  resource: string;
  /** Absent for cluster-scoped requests and for lists and watches across all namespaces. */
  namespace?: string;
}

/** Answers whether a ServiceAccount may make a request. */
export type Authorizer = (req: RbacRequest) => boolean;

const covers = (list: string[] | undefined, value: string): boolean => (list ?? []).some((x) => x === '*' || x === value);

/** True when one rule grants the request (resourceNames are not used by the operator, so a rule with them grants nothing here). */
export const ruleGrants = (rule: PolicyRule, req: RbacRequest): boolean =>
  rule.resourceNames === undefined && covers(rule.apiGroups, req.apiGroup) && covers(rule.resources, req.resource) && covers(rule.verbs, req.verb);

/** The RBAC objects of a manifest file (default deploy/rbac.yaml). */
export function loadRbac(path = 'deploy/rbac.yaml'): RbacObject[] {
  return parseYamlDocuments(readRepoFile(path), path).map((d) => d.value as RbacObject);
}

/**
 * RBAC evaluation as the API server does it, limited to what the manifests use: ClusterRoles bound
 * by ClusterRoleBindings grant everywhere; Roles bound by RoleBindings grant in their namespace.
 */
export function authorizerFor(serviceAccount: { namespace: string; name: string }, objects: RbacObject[] = loadRbac()): Authorizer {
  const isSubject = (b: RbacObject): boolean =>
    (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount.name && s.namespace === serviceAccount.namespace);
  const roleRules = (kind: string, name: string, namespace?: string): PolicyRule[] =>
    objects.find((o) => o.kind === kind && o.metadata.name === name && (kind === 'ClusterRole' || o.metadata.namespace === namespace))?.rules ?? [];

  const clusterRules = objects
    .filter((o) => o.kind === 'ClusterRoleBinding' && isSubject(o))
    .flatMap((b) => roleRules('ClusterRole', b.roleRef?.name ?? ''));
  const namespacedRules = objects
    .filter((o) => o.kind === 'RoleBinding' && isSubject(o))
    .map((b) => ({
      namespace: b.metadata.namespace,
      rules: b.roleRef?.kind === 'ClusterRole' ? roleRules('ClusterRole', b.roleRef.name) : roleRules('Role', b.roleRef?.name ?? '', b.metadata.namespace),
    }));

  return (req) =>
    clusterRules.some((r) => ruleGrants(r, req)) ||
    (req.namespace !== undefined && namespacedRules.some((n) => n.namespace === req.namespace && n.rules.some((r) => ruleGrants(r, req))));
}
