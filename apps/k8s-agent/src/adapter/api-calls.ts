/**
 * Every Kubernetes API call the adapter makes, declared once. `deploy/rbac.yaml` must grant each
 * of them and nothing the adapter does not use: a test checks the ClusterRole against this list,
 * and the fake API server enforces the same file, so an undeclared call fails the adapter tests
 * with 403 before it fails in a cluster.
 */
export interface ApiCall {
  /** Kubernetes RBAC verb. */
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** API group; `''` is the core group. */
  apiGroup: string;
  /** Resource, with `/subresource` where the call goes to one. */
  resource: string;
  /** What the adapter uses it for. */
  why: string;
}

export const ADAPTER_CALLS = [
  { verb: 'list', apiGroup: 'propeller.absmach.fr', resource: 'proplets', why: 'Proplet informer: initial list and relist after 410 Gone' },
  { verb: 'watch', apiGroup: 'propeller.absmach.fr', resource: 'proplets', why: 'Proplet informer' },
  { verb: 'get', apiGroup: 'propeller.absmach.fr', resource: 'proplets', why: 're-read after a 409 Conflict' },
  { verb: 'patch', apiGroup: 'propeller.absmach.fr', resource: 'proplets', why: 'add and remove the finalizer' },
  { verb: 'patch', apiGroup: 'propeller.absmach.fr', resource: 'proplets/status', why: 'write status through the status subresource' },
  { verb: 'update', apiGroup: 'propeller.absmach.fr', resource: 'proplets/finalizers', why: 'set blockOwnerDeletion on the Deployments it owns (OwnerReferencesPermissionEnforcement)' },
  { verb: 'list', apiGroup: 'propeller.absmach.fr', resource: 'tasks', why: 'Task informer' },
  { verb: 'watch', apiGroup: 'propeller.absmach.fr', resource: 'tasks', why: 'Task informer' },
  { verb: 'get', apiGroup: 'propeller.absmach.fr', resource: 'tasks', why: 're-read after a 409 Conflict' },
  { verb: 'patch', apiGroup: 'propeller.absmach.fr', resource: 'tasks', why: 'add and remove the finalizer' },
  { verb: 'patch', apiGroup: 'propeller.absmach.fr', resource: 'tasks/status', why: 'write status through the status subresource' },
  { verb: 'list', apiGroup: 'apps', resource: 'deployments', why: 'Deployment informer (label propeller.absmach.fr/proplet)' },
  { verb: 'watch', apiGroup: 'apps', resource: 'deployments', why: 'Deployment informer' },
  { verb: 'get', apiGroup: 'apps', resource: 'deployments', why: 're-read after a 409 Conflict' },
  { verb: 'create', apiGroup: 'apps', resource: 'deployments', why: 'the <name>-proplet Deployment of a k8s Proplet' },
  { verb: 'patch', apiGroup: 'apps', resource: 'deployments', why: 'scale or update it when the spec hash changes' },
  { verb: 'delete', apiGroup: 'apps', resource: 'deployments', why: 'on Proplet deletion, before the finalizer goes' },
  { verb: 'list', apiGroup: '', resource: 'pods', why: 'Pod informer (label propeller.absmach.fr/proplet)' },
  { verb: 'watch', apiGroup: '', resource: 'pods', why: 'Pod informer: readiness, deletion, end' },
  { verb: 'create', apiGroup: '', resource: 'events', why: 'Kubernetes Events on Proplets and Tasks (kubectl describe)' },
  { verb: 'get', apiGroup: 'coordination.k8s.io', resource: 'leases', why: 'leader election' },
  { verb: 'create', apiGroup: 'coordination.k8s.io', resource: 'leases', why: 'leader election: first holder' },
  { verb: 'update', apiGroup: 'coordination.k8s.io', resource: 'leases', why: 'leader election: renew and take over' },
] as const satisfies readonly ApiCall[];

/** One declared call; the adapter names the call it makes through this type. */
export type DeclaredCall = (typeof ADAPTER_CALLS)[number];

/** Finds a declared call; throws at start-up (never at run time) when the adapter names an undeclared one. */
export function declared(verb: ApiCall['verb'], apiGroup: string, resource: string): DeclaredCall {
  const c = ADAPTER_CALLS.find((x) => x.verb === verb && x.apiGroup === apiGroup && x.resource === resource);
  if (!c) throw new Error(`undeclared Kubernetes API call ${verb} ${apiGroup || 'core'}/${resource}: add it to ADAPTER_CALLS and deploy/rbac.yaml`);
  return c;
}
