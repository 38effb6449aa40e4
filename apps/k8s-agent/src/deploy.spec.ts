import { ADAPTER_CALLS } from './adapter/api-calls';
import { authorizerFor, loadRbac, type PolicyRule } from './testing/rbac';
import { yamlDocumentsUnder } from './testing/repo-files';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

const API_VERSION_OF: Record<string, string> = {
  CustomResourceDefinition: 'apiextensions.k8s.io/v1',
  Namespace: 'v1',
  ServiceAccount: 'v1',
  Service: 'v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  Deployment: 'apps/v1',
};
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding']);
const SA = { namespace: 'propeller-system', name: 'propeller-k8s-agent' };

const manifests = yamlDocumentsUnder('deploy');
const all = manifests.map((d) => d.value as Manifest);

describe('every manifest in deploy/', () => {
  it('exists: crds.yaml, rbac.yaml and deployment.yaml are all there', () => {
    const files = new Set(manifests.map((d) => d.source.replace(/#\d+$/, '')));
    expect([...files]).toEqual(expect.arrayContaining(['deploy/crds.yaml', 'deploy/rbac.yaml', 'deploy/deployment.yaml']));
  });

  it.each(manifests.map((d) => [d.source, d.value as Manifest] as const))('%s is a known kind with its apiVersion, a name, and the propeller-system namespace when namespaced', (_src, m) => {
    expect(Object.keys(API_VERSION_OF)).toContain(m.kind);
    expect(m.apiVersion).toBe(API_VERSION_OF[m.kind]);
    expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    if (CLUSTER_SCOPED.has(m.kind)) expect(m.metadata.namespace).toBeUndefined();
    else expect(m.metadata.namespace).toBe('propeller-system');
  });
});

interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface ContainerManifest {
  env: EnvEntry[];
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: Probe;
  readinessProbe: Probe;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface DeploymentManifest extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; securityContext: { runAsNonRoot?: boolean }; containers: ContainerManifest[] } };
  };
}

describe('deploy/deployment.yaml', () => {
  const deployment = all.find((m) => m.kind === 'Deployment' && m.metadata.name === 'propeller-k8s-agent') as DeploymentManifest;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0] as ContainerManifest;
  const env = new Map(container.env.map((e) => [e.name, e]));
  const portOf = (p: string | number): number | undefined => (typeof p === 'number' ? p : container.ports.find((x) => x.name === p)?.containerPort);

  it('runs the operator in propeller-system under the ServiceAccount that rbac.yaml binds', () => {
    expect(deployment.metadata.namespace).toBe('propeller-system');
    expect(pod.serviceAccountName).toBe(SA.name);
    expect(all.some((m) => m.kind === 'ServiceAccount' && m.metadata.name === SA.name && m.metadata.namespace === SA.namespace)).toBe(true);
    expect(deployment.spec.selector.matchLabels).toEqual(pick(deployment.spec.template.metadata.labels, Object.keys(deployment.spec.selector.matchLabels)));
  });

  it('sets the documented environment, with MQTT credentials from Secret mqtt-credentials', () => {
    for (const name of ['K8S_NAMESPACE', 'MQTT_BROKER', 'MQTT_USERNAME', 'MQTT_PASSWORD', 'PROPELLER_DOMAIN_ID', 'PROPELLER_CHANNEL_ID', 'SCHEDULER_TYPE', 'HEALTH_CHECK_INTERVAL', 'OFFLINE_THRESHOLD', 'FAILURE_THRESHOLD']) {
      expect(env.has(name)).toBe(true);
    }
    expect(env.get('MQTT_USERNAME')?.valueFrom?.secretKeyRef).toEqual({ name: 'mqtt-credentials', key: 'username' });
    expect(env.get('MQTT_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'mqtt-credentials', key: 'password' });
    expect(env.get('MQTT_PASSWORD')?.value).toBeUndefined();
  });

  it('probes /healthz and /readyz on 8081 and exposes metrics on 8080', () => {
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(portOf(container.livenessProbe.httpGet.port)).toBe(8081);
    expect(portOf(container.readinessProbe.httpGet.port)).toBe(8081);
    expect(portOf('metrics')).toBe(8080);
  });

  it('has resource limits and runs non-root on a read-only root filesystem without capabilities', () => {
    expect(container.resources.limits).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });
});

describe('deploy/rbac.yaml', () => {
  const rbac = loadRbac();
  const can = authorizerFor(SA, rbac);
  // Leases live in the operator's namespace; everything else is watched across namespaces (K8S_NAMESPACE empty).
  const scopeOf = (resource: string) => (resource === 'leases' ? { namespace: 'propeller-system' } : {});

  it.each(ADAPTER_CALLS.map((c) => [`${c.verb} ${c.apiGroup || 'core'}/${c.resource}`, c] as const))('grants the operator call %s', (_name, c) => {
    expect(can({ verb: c.verb, apiGroup: c.apiGroup, resource: c.resource, ...scopeOf(c.resource) })).toBe(true);
  });

  it('grants nothing the operator does not call', () => {
    const declared = new Set(ADAPTER_CALLS.map((c) => `${c.verb} ${c.apiGroup}/${c.resource}`));
    const rules = rbac.flatMap((o) => (o.kind === 'ClusterRole' || o.kind === 'Role' ? (o.rules ?? []) : [])) as PolicyRule[];
    const granted = rules.flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`))));
    expect(granted.filter((g) => !declared.has(g))).toEqual([]);
    expect(granted.some((g) => g.includes('*'))).toBe(false);
  });

  it('denies calls outside the rules: secrets, deleting pods, leases outside propeller-system', () => {
    expect(can({ verb: 'get', apiGroup: '', resource: 'secrets' })).toBe(false);
    expect(can({ verb: 'delete', apiGroup: '', resource: 'pods', namespace: 'default' })).toBe(false);
    expect(can({ verb: 'update', apiGroup: 'coordination.k8s.io', resource: 'leases', namespace: 'default' })).toBe(false);
    expect(can({ verb: 'update', apiGroup: 'propeller.absmach.fr', resource: 'proplets' })).toBe(false);
  });

  it('binds only the operator ServiceAccount, to roles that exist', () => {
    for (const b of rbac.filter((o) => o.kind.endsWith('Binding'))) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', ...SA }]);
      expect(rbac.some((o) => o.kind === b.roleRef?.kind && o.metadata.name === b.roleRef?.name)).toBe(true);
    }
  });
});

function pick(o: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, o[k] ?? '']));
}
