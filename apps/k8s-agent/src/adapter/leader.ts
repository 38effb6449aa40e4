import type * as k8s from '@kubernetes/client-node';
import { httpStatusOf, type KubeApi } from './kube';

/** Options of `LeaderElector`. */
export interface LeaderElectionOptions {
  /** Namespace of the Lease (the operator's own, `POD_NAMESPACE`; default `propeller-system`). */
  namespace: string;
  /** Lease name; default `propeller-k8s-agent`. */
  name?: string;
  /** This replica's identity (the pod name). */
  identity: string;
  /** How long a lease holds without renewal; default 15 s. */
  leaseDurationSeconds?: number;
  /** How often the holder renews and the others retry; default 5 000 ms. */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onError?: (e: unknown) => void;
}

/** Formats a time as a Kubernetes MicroTime (RFC 3339 with 6 fractional digits). */
export const microTime = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: acquire with create,
 * renew with update (the resourceVersion makes two replicas' writes conflict, so only one wins),
 * take over a lease whose `renewTime + leaseDurationSeconds` has passed, release on a clean stop.
 */
export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private readonly name: string;
  private readonly duration: number;
  private readonly period: number;

  constructor(
    private readonly kube: KubeApi,
    private readonly options: LeaderElectionOptions,
  ) {
    this.name = options.name ?? 'propeller-k8s-agent';
    this.duration = options.leaseDurationSeconds ?? 15;
    this.period = options.retryPeriodMs ?? 5000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts trying; resolves after the first attempt. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
  }

  /** Stops renewing and releases the lease if held, so a successor takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    try {
      const lease = await this.kube.getLease(this.options.namespace, this.name);
      if (lease.spec?.holderIdentity === this.options.identity) {
        await this.kube.replaceLease(this.options.namespace, this.name, { ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: undefined } });
      }
    } catch (e) {
      this.options.onError?.(e);
    }
    this.setLeading(false);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.period);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      this.setLeading(await this.tryAcquireOrRenew());
    } catch (e) {
      this.options.onError?.(e);
      this.setLeading(false);
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, identity } = this.options;
    const now = new Date();
    let lease: k8s.V1Lease;
    try {
      lease = await this.kube.getLease(namespace, this.name);
    } catch (e) {
      if (httpStatusOf(e) !== 404) throw e;
      try {
        await this.kube.createLease(namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: this.duration, acquireTime: microTime(now) as never, renewTime: microTime(now) as never, leaseTransitions: 0 },
        });
        return true;
      } catch (ce) {
        if (httpStatusOf(ce) === 409) return false; // another replica created it first
        throw ce;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewedAt = spec.renewTime ? Date.parse(String(spec.renewTime)) : 0;
    const expired = holder === '' || renewedAt + (spec.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
    if (holder !== identity && !expired) return false;
    const next: k8s.V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.duration,
        renewTime: microTime(now) as never,
        ...(holder !== identity ? { acquireTime: microTime(now) as never, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    };
    try {
      await this.kube.replaceLease(namespace, this.name, next);
      return true;
    } catch (e) {
      if (httpStatusOf(e) === 409) return false; // someone else renewed or took it meanwhile
      throw e;
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }
}
