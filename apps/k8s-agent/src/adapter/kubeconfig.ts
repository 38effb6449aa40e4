import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidError } from '@propeller/events';

/** Token file a pod's ServiceAccount mounts. */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the operator's Kubernetes credentials come from. */
export type KubeconfigSource = { kind: 'cluster' } | { kind: 'files'; paths: string[] };

/** What `kubeconfigSource` looks at, so it can be decided without a real environment. */
export interface KubeconfigLookup {
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  exists(path: string): boolean;
}

/**
 * Picks the credentials the way kubectl does, but never falls back to an unauthenticated
 * `localhost:8080` (as `KubeConfig.loadFromDefault` does when it finds nothing): in a pod, its
 * ServiceAccount; else the existing files of `KUBECONFIG` (a path list); else `~/.kube/config`.
 * Undefined when there is none.
 */
export function kubeconfigSource(l: KubeconfigLookup): KubeconfigSource | undefined {
  if (l.env['KUBERNETES_SERVICE_HOST'] && l.exists(SERVICE_ACCOUNT_TOKEN)) return { kind: 'cluster' };
  const listed = (l.env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== '');
  if (listed.length > 0) {
    const paths = listed.filter((p) => l.exists(p));
    return paths.length > 0 ? { kind: 'files', paths } : undefined;
  }
  const home = join(l.home, '.kube', 'config');
  return l.exists(home) ? { kind: 'files', paths: [home] } : undefined;
}

/**
 * The operator's KubeConfig, or an `InvalidError` that says what to provide: a ServiceAccount in a
 * pod, `KUBECONFIG`, or `~/.kube/config`, and that the chosen file has a current context.
 */
export function loadKubeConfig(l: KubeconfigLookup = { env: process.env, home: homedir(), exists: existsSync }): KubeConfig {
  const source = kubeconfigSource(l);
  if (!source) {
    const listed = l.env['KUBECONFIG'];
    throw InvalidError.field(
      'KUBECONFIG',
      listed ?? '',
      listed
        ? 'names no existing file; point it at a kubeconfig, or run the k8s-agent in a pod with its ServiceAccount (deploy/rbac.yaml)'
        : 'no Kubernetes credentials: set KUBECONFIG to a kubeconfig file, create ~/.kube/config, or run the k8s-agent in a pod with its ServiceAccount (deploy/rbac.yaml)',
    );
  }
  const kc = new KubeConfig();
  if (source.kind === 'cluster') {
    kc.loadFromCluster();
    return kc;
  }
  kc.loadFromFile(source.paths[0] ?? '');
  for (const extra of source.paths.slice(1)) {
    const more = new KubeConfig();
    more.loadFromFile(extra);
    kc.mergeConfig(more, true);
  }
  if (!kc.getCurrentCluster()) {
    throw InvalidError.field('KUBECONFIG', source.paths.join(delimiter), 'has no current context with a cluster (kubectl config use-context <name>)');
  }
  return kc;
}
