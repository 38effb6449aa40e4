import { createHash } from 'node:crypto';
import { API_VERSION, GROUP, type PropletResource, type Quantity, type ResourceCapacity } from '../crd/types';
import { stableStringify } from './conditions';
import type { ReconcileConfig } from './config';
import type { Deployment, EnvVar } from './k8s-objects';

/** Label on the Deployment and its pods naming the Proplet CR they belong to. */
export const PROPLET_LABEL = `${GROUP}/proplet`;
/** Annotation holding the hash of the Deployment spec the operator last wrote. */
export const SPEC_HASH_ANNOTATION = `${GROUP}/spec-hash`;
/** The proplet's HTTP port (`PROPLET_HTTP_PORT`, ARCHITECTURE.md "Ports"). */
export const PROPLET_HTTP_PORT = 9090;

/** `<name>-proplet`: the Deployment of a k8s Proplet. */
export const deploymentNameOf = (propletName: string): string => `${propletName}-proplet`;

const q = (v: Quantity | undefined): string | undefined => (v === undefined ? undefined : String(v));

function resourceMap(r: ResourceCapacity | undefined): Record<string, string> | undefined {
  if (!r) return undefined;
  const out: Record<string, string> = {};
  if (r.cpu !== undefined) out['cpu'] = String(r.cpu);
  if (r.memory !== undefined) out['memory'] = String(r.memory);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Pod requests and limits: `spec.k8s.resources` when set, otherwise both equal `spec.resources`. */
export function podResources(cr: PropletResource): { requests?: Record<string, string>; limits?: Record<string, string> } | undefined {
  const explicit = cr.spec.k8s?.resources;
  const requests = resourceMap(explicit ? explicit.requests : cr.spec.resources);
  const limits = resourceMap(explicit ? explicit.limits : cr.spec.resources);
  if (!requests && !limits) return undefined;
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

/** The MQTT connection a proplet uses: the CR's `connectionConfig`, each field defaulting to the operator's config. */
export function connectionOf(cr: PropletResource, config: ReconcileConfig): { domainId: string; channelId: string; broker: string } {
  const c = cr.spec.connectionConfig;
  return { domainId: c?.domainId ?? config.domainId, channelId: c?.channelId ?? config.channelId, broker: c?.broker ?? config.mqttBroker };
}

function env(cr: PropletResource, config: ReconcileConfig): EnvVar[] {
  const conn = connectionOf(cr, config);
  const secret = config.mqttCredentialsSecret;
  const vars: EnvVar[] = [
    // The pod name is the proplet id, so each replica registers as its own proplet.
    { name: 'PROPLET_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'PROPLET_TYPE', value: 'k8s' },
    // The `owner` extension of the registration: links the pod's proplet to its CR.
    { name: 'PROPLET_OWNER_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'PROPLET_OWNER_NAME', value: cr.metadata.name },
    { name: 'PROPLET_OWNER_UID', value: cr.metadata.uid ?? '' },
    { name: 'MQTT_BROKER', value: conn.broker },
    { name: 'PROPELLER_DOMAIN_ID', value: conn.domainId },
    { name: 'PROPELLER_CHANNEL_ID', value: conn.channelId },
    { name: 'MQTT_USERNAME', valueFrom: { secretKeyRef: { name: secret, key: 'username' } } },
    { name: 'MQTT_PASSWORD', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } },
    { name: 'PROPLET_HTTP_PORT', value: String(PROPLET_HTTP_PORT) },
  ];
  const cpu = q(cr.spec.resources?.cpu);
  const memory = q(cr.spec.resources?.memory);
  if (cpu !== undefined) vars.push({ name: 'PROPLET_CAPACITY_CPU', value: cpu });
  if (memory !== undefined) vars.push({ name: 'PROPLET_CAPACITY_MEMORY', value: memory });
  return vars;
}

/** Hash of the parts of a Deployment the operator owns; a different hash means "update it". */
export function specHash(d: Pick<Deployment, 'spec'> & { metadata: { labels?: Record<string, string> } }): string {
  return createHash('sha256').update(stableStringify({ spec: d.spec, labels: d.metadata.labels })).digest('hex').slice(0, 16);
}

/**
 * The Deployment a `type: k8s` Proplet wants: `<name>-proplet`, owned by the CR (garbage-collected
 * with it), labelled, with the spec hash in an annotation.
 */
export function desiredDeployment(cr: PropletResource, config: ReconcileConfig): Deployment {
  const name = cr.metadata.name;
  const namespace = cr.metadata.namespace ?? 'default';
  const selector = { [PROPLET_LABEL]: name };
  const labels = {
    'app.kubernetes.io/name': 'proplet',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/managed-by': 'propeller-k8s-agent',
    'app.kubernetes.io/part-of': 'propeller',
    ...selector,
  };
  const resources = podResources(cr);
  // Ready = connected and taking work (/health answers 503 otherwise); alive = the process answers at
  // all, so a broker outage makes pods unready instead of restarting them in a loop.
  const readinessProbe = { httpGet: { path: '/health', port: PROPLET_HTTP_PORT }, periodSeconds: 10, failureThreshold: 3 };
  const livenessProbe = { tcpSocket: { port: PROPLET_HTTP_PORT }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 };
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: deploymentNameOf(name),
      namespace,
      labels,
      annotations: {},
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Proplet', name, uid: cr.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: cr.spec.k8s?.replicas ?? 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          // A numeric user: the proplet image says `USER nonroot`, which runAsNonRoot cannot verify by name.
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'proplet',
              image: cr.spec.k8s?.image ?? '',
              env: env(cr, config),
              ports: [{ name: 'http', containerPort: PROPLET_HTTP_PORT, protocol: 'TCP' }],
              ...(resources ? { resources } : {}),
              readinessProbe,
              livenessProbe,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
  d.metadata.annotations = { [SPEC_HASH_ANNOTATION]: specHash(d) };
  return d;
}
