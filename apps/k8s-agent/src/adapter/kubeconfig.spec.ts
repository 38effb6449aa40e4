import { delimiter } from 'node:path';
import { isInvalid } from '@propeller/events';
import { kubeconfigSource, loadKubeConfig, SERVICE_ACCOUNT_TOKEN, type KubeconfigLookup } from './kubeconfig';

const lookup = (env: Record<string, string>, files: string[]): KubeconfigLookup => ({ env, home: '/home/op', exists: (p) => files.includes(p) });

describe('kubeconfigSource', () => {
  it('uses the ServiceAccount in a pod, even when a kubeconfig exists', () => {
    expect(kubeconfigSource(lookup({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: '/k' }, [SERVICE_ACCOUNT_TOKEN, '/k']))).toEqual({ kind: 'cluster' });
  });

  it('ignores KUBERNETES_SERVICE_HOST without a mounted token', () => {
    expect(kubeconfigSource(lookup({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, ['/home/op/.kube/config']))).toEqual({ kind: 'files', paths: ['/home/op/.kube/config'] });
  });

  it('takes the existing files of the KUBECONFIG list, in order', () => {
    expect(kubeconfigSource(lookup({ KUBECONFIG: ['/a', '/missing', '/b'].join(delimiter) }, ['/a', '/b']))).toEqual({ kind: 'files', paths: ['/a', '/b'] });
  });

  it('does not fall back to ~/.kube/config when KUBECONFIG names only missing files', () => {
    expect(kubeconfigSource(lookup({ KUBECONFIG: '/missing' }, ['/home/op/.kube/config']))).toBeUndefined();
  });

  it('finds nothing without a pod, KUBECONFIG or ~/.kube/config', () => {
    expect(kubeconfigSource(lookup({}, []))).toBeUndefined();
  });
});

describe('loadKubeConfig', () => {
  it('throws an Invalid error naming KUBECONFIG and the ways to provide credentials', () => {
    let error: unknown;
    try {
      loadKubeConfig(lookup({}, []));
    } catch (e) {
      error = e;
    }
    expect(isInvalid(error)).toBe(true);
    expect((error as Error).message).toMatch(/^KUBECONFIG: no Kubernetes credentials: set KUBECONFIG .*~\/\.kube\/config.*ServiceAccount/);
  });

  it('says the file is missing when KUBECONFIG points nowhere', () => {
    expect(() => loadKubeConfig(lookup({ KUBECONFIG: '/nope' }, []))).toThrow(/KUBECONFIG: names no existing file/);
  });
});
