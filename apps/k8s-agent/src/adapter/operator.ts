import type * as k8s from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { PropletResource, TaskResource } from '../crd/types';
import type { PropellerChange, PropellerPort, PropletState } from '../port/propeller-port';
import type { CrKind } from '../reconcile/actions';
import type { ReconcileConfig } from '../reconcile/config';
import { PROPLET_LABEL, deploymentNameOf } from '../reconcile/deployment';
import type { Deployment, Pod } from '../reconcile/k8s-objects';
import { planProplet, propletIdsToObserve } from '../reconcile/proplet-plan';
import { planTask, taskIdOf } from '../reconcile/task-plan';
import { applyActions, type EventSink, type PlannedObject, type WriteObserver } from './apply';
import { stableStringify } from '../reconcile/conditions';
import { KubeEventSink } from './events';
import { OperatorMetrics } from './http';
import type { KubeApi } from './kube';
import { LeaderElector } from './leader';
import { WorkQueue } from './work-queue';

/** Structured logger the operator writes to (pino fits). */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface OperatorOptions {
  kube: KubeApi;
  port: PropellerPort;
  config: ReconcileConfig;
  /** This replica's identity (pod name). */
  identity: string;
  /** Namespace of the leader Lease; default `propeller-system`. */
  leaseNamespace?: string;
  /** Name of the leader Lease; default `propeller-k8s-agent`. */
  leaseName?: string;
  /** Lease timing; defaults 15 s / 5 000 ms. */
  leaseDurationSeconds?: number;
  leaseRetryPeriodMs?: number;
  /** Every key is reconciled again this often (refreshes pod liveness and lastSeen); default 60 000 ms. */
  resyncMs?: number;
  /** First and longest delay before an informer that failed is restarted; defaults 1 000 / 30 000 ms. */
  informerBackoffMs?: { base: number; max: number };
  /** Queue retry delays; defaults 200 / 30 000 ms. */
  queueBackoffMs?: { base: number; max: number };
  log?: Log;
  /** Clock for plans; default `new Date()`. */
  now?: () => Date;
  /** Where events go; default Kubernetes Events through `kube`. */
  events?: EventSink;
  /** Prometheus registry for the operator's metrics; default a fresh one. */
  registry?: Registry;
}

/** Queue key of a custom resource: `Kind:namespace/name` (Proplets and Tasks may share a name). */
export const keyOf = (kind: CrKind, namespace: string, name: string): string => `${kind}:${namespace}/${name}`;

function parseKey(key: string): { kind: CrKind; namespace: string; name: string } {
  const m = key.match(/^(Proplet|Task):([^/]+)\/(.+)$/);
  if (!m) throw new Error(`bad queue key ${key}`);
  return { kind: m[1] as CrKind, namespace: m[2] ?? '', name: m[3] ?? '' };
}

/**
 * The k8s-agent controller: informers on Proplets, Tasks and the Deployments and Pods it owns feed
 * one work queue; each key is reconciled by planning (pure) and applying (idempotent). Only the
 * Lease holder processes the queue; every replica keeps its caches warm to take over at once.
 */
export class Operator {
  readonly queue: WorkQueue;
  readonly metrics: OperatorMetrics;
  readonly elector: LeaderElector;
  private readonly proplets: k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;
  private readonly tasks: k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;
  private readonly deployments: k8s.Informer<k8s.V1Deployment> & k8s.ObjectCache<k8s.V1Deployment>;
  private readonly pods: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly log: Log;
  private readonly events: EventSink;
  private readonly synced = new Set<string>();
  private readonly failed = new Set<string>();
  private readonly delays = new Map<string, number>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Our last status write per CR uid, used until the informer shows it (we are status' only writer). */
  private readonly writtenStatus = new Map<string, object>();
  /** Our last Deployment write per namespace/name, used until the informer shows its generation. */
  private readonly writtenDeployments = new Map<string, Deployment>();
  private readonly written: WriteObserver = {
    statusWritten: (uid, status) => void this.writtenStatus.set(uid, structuredClone(status)),
    deploymentWritten: (d) => void this.writtenDeployments.set(`${d.metadata.namespace ?? ''}/${d.metadata.name}`, d),
    deploymentDeleted: (ns, name) => void this.writtenDeployments.delete(`${ns}/${name}`),
  };
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly o: OperatorOptions) {
    this.log = o.log ?? silent;
    this.events = o.events ?? new KubeEventSink(o.kube, o.identity, (e) => this.log.warn({ err: String(e) }, 'event not written'));
    this.metrics = new OperatorMetrics({
      proplets: () => this.proplets.list() as unknown as PropletResource[],
      tasks: () => this.tasks.list() as unknown as TaskResource[],
    }, o.registry);
    const qb = o.queueBackoffMs ?? { base: 200, max: 30_000 };
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      baseDelayMs: qb.base,
      maxDelayMs: qb.max,
      onError: (key, err, attempt) => this.log.warn({ key, attempt, err: err instanceof Error ? err.message : String(err) }, 'reconcile failed; retrying with backoff'),
    });
    this.queue.pause();
    const kube = o.kube;
    const selector = PROPLET_LABEL;
    this.proplets = kube.informer(kube.crPath('Proplet'), () => kube.listCrs('Proplet'));
    this.tasks = kube.informer(kube.crPath('Task'), () => kube.listCrs('Task'));
    this.deployments = kube.informer(kube.deploymentPath, () => kube.listDeployments(selector), selector);
    this.pods = kube.informer(kube.podPath, () => kube.listPods(selector), selector);
    this.elector = new LeaderElector(kube, {
      namespace: o.leaseNamespace ?? 'propeller-system',
      identity: o.identity,
      ...(o.leaseName !== undefined ? { name: o.leaseName } : {}),
      ...(o.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
      ...(o.leaseRetryPeriodMs !== undefined ? { retryPeriodMs: o.leaseRetryPeriodMs } : {}),
      onStartedLeading: () => {
        this.log.info({ identity: o.identity }, 'became leader');
        this.metrics.leader.set(1);
        this.enqueueAll();
        this.queue.resume();
      },
      onStoppedLeading: () => {
        this.log.warn({ identity: o.identity }, 'lost leadership; pausing reconciles');
        this.metrics.leader.set(0);
        this.queue.pause();
      },
      onError: (e) => this.log.warn({ err: String(e) }, 'leader election error'),
    });
  }

  /** True once every informer has listed at least once. */
  get ready(): boolean {
    return this.synced.size === 4;
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Starts the informers, waits for their first list, then joins leader election. */
  async start(): Promise<void> {
    this.wire('proplets', this.proplets, (o) => this.queue.add(keyOf('Proplet', o.metadata?.namespace ?? '', o.metadata?.name ?? '')));
    this.wire('tasks', this.tasks, (o) => this.queue.add(keyOf('Task', o.metadata?.namespace ?? '', o.metadata?.name ?? '')));
    const forgetStatus = (o: k8s.KubernetesObject) => void this.writtenStatus.delete(o.metadata?.uid ?? '');
    this.proplets.on('delete', forgetStatus);
    this.tasks.on('delete', forgetStatus);
    this.deployments.on('delete', (d) => void this.writtenDeployments.delete(`${d.metadata?.namespace ?? ''}/${d.metadata?.name ?? ''}`));
    const owner = (o: k8s.KubernetesObject) => {
      const name = o.metadata?.labels?.[PROPLET_LABEL];
      if (name) this.queue.add(keyOf('Proplet', o.metadata?.namespace ?? '', name));
    };
    this.wire('deployments', this.deployments, owner);
    this.wire('pods', this.pods, owner);
    this.unsubscribe = this.o.port.subscribe((c) => this.onPropellerChange(c));
    const informers: Array<[string, k8s.Informer<k8s.KubernetesObject>]> = [
      ['proplets', this.proplets],
      ['tasks', this.tasks],
      ['deployments', this.deployments as unknown as k8s.Informer<k8s.KubernetesObject>],
      ['pods', this.pods as unknown as k8s.Informer<k8s.KubernetesObject>],
    ];
    await Promise.all(informers.map(([name, inf]) => this.startInformer(name, inf)));
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.o.resyncMs ?? 60_000);
    this.resyncTimer.unref();
    await this.elector.start();
  }

  /** Releases the Lease, stops the informers and drains the queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const t of this.restartTimers) clearTimeout(t);
    this.unsubscribe?.();
    await this.elector.stop();
    await Promise.all([this.proplets.stop(), this.tasks.stop(), this.deployments.stop(), this.pods.stop()]);
    await this.queue.shutdown();
  }

  /** Cached Proplet CR (for tests and metrics). */
  proplet(namespace: string, name: string): PropletResource | undefined {
    return this.proplets.get(name, namespace) as unknown as PropletResource | undefined;
  }

  /** Cached Task CR. */
  task(namespace: string, name: string): TaskResource | undefined {
    return this.tasks.get(name, namespace) as unknown as TaskResource | undefined;
  }

  private wire<T extends k8s.KubernetesObject>(name: string, inf: k8s.Informer<T>, onChange: (o: T) => void): void {
    inf.on('add', onChange);
    inf.on('update', onChange);
    inf.on('delete', onChange);
    inf.on('error', (err: unknown) => {
      this.failed.add(name);
      this.synced.delete(name);
      if (this.stopped) return;
      const delay = this.nextDelay(name);
      this.log.warn({ informer: name, delayMs: delay, err: err instanceof Error ? err.message : String(err) }, 'list or watch failed; restarting with backoff');
      const t = setTimeout(() => {
        this.restartTimers.delete(t);
        if (!this.stopped) void this.startInformer(name, inf as unknown as k8s.Informer<k8s.KubernetesObject>);
      }, delay);
      this.restartTimers.add(t);
    });
  }

  /** Starts (or restarts) one informer; it counts as synced when its list and watch began without an error. */
  private async startInformer(name: string, inf: k8s.Informer<k8s.KubernetesObject>): Promise<void> {
    this.failed.delete(name);
    await inf.start();
    if (this.failed.has(name)) return;
    this.synced.add(name);
    this.delays.delete(name);
  }

  private nextDelay(name: string): number {
    const backoff = this.o.informerBackoffMs ?? { base: 1000, max: 30_000 };
    const delay = this.delays.get(name) ?? backoff.base;
    this.delays.set(name, Math.min(delay * 2, backoff.max));
    return delay;
  }

  private enqueueAll(): void {
    for (const p of this.proplets.list()) this.queue.add(keyOf('Proplet', p.metadata?.namespace ?? '', p.metadata?.name ?? ''));
    for (const t of this.tasks.list()) this.queue.add(keyOf('Task', t.metadata?.namespace ?? '', t.metadata?.name ?? ''));
  }

  /** Maps a proplet or task change in Propeller back to the CR that stands for it. */
  private onPropellerChange(c: PropellerChange): void {
    if (c.owner) {
      this.queue.add(keyOf(c.kind === 'proplet' ? 'Proplet' : 'Task', c.owner.namespace, c.owner.name));
      return;
    }
    if (c.kind === 'task') {
      const cr = this.tasks.list().find((t) => taskIdOf(t.metadata?.uid ?? '') === c.id);
      if (cr) this.queue.add(keyOf('Task', cr.metadata?.namespace ?? '', cr.metadata?.name ?? ''));
    } else {
      const cr = this.proplets.list().find((p) => (p as unknown as PropletResource).status?.propletIds?.includes(c.id));
      if (cr) this.queue.add(keyOf('Proplet', cr.metadata?.namespace ?? '', cr.metadata?.name ?? ''));
    }
  }

  /** The cached CR with our own last status write in place of a status the cache has not caught up with. */
  private withOwnStatus<R extends PropletResource | TaskResource>(cr: R): R {
    const uid = cr.metadata.uid ?? '';
    const mine = this.writtenStatus.get(uid);
    if (mine === undefined) return structuredClone(cr);
    if (stableStringify(cr.status ?? {}) === stableStringify(mine)) {
      this.writtenStatus.delete(uid);
      return structuredClone(cr);
    }
    return { ...structuredClone(cr), status: structuredClone(mine) };
  }

  /** The cached Deployment, or our own last write while the cache lags behind it (by generation). */
  private observedDeployment(namespace: string, name: string): Deployment | undefined {
    const cached = this.deployments.get(name, namespace) as unknown as Deployment | undefined;
    const mine = this.writtenDeployments.get(`${namespace}/${name}`);
    if (!mine) return cached;
    if (cached && (cached.metadata.generation ?? 0) >= (mine.metadata.generation ?? 0)) {
      this.writtenDeployments.delete(`${namespace}/${name}`);
      return cached;
    }
    return mine;
  }

  /** One reconcile: read caches and Propeller, plan, apply. Throws to requeue with backoff. */
  async reconcile(key: string): Promise<void> {
    const { kind, namespace, name } = parseKey(key);
    const now = this.o.now?.() ?? new Date();
    try {
      if (kind === 'Proplet') {
        const cr = this.proplet(namespace, name);
        if (!cr) return;
        const pods = (this.pods.list(namespace) as unknown as Pod[]).filter((p) => p.metadata.labels?.[PROPLET_LABEL] === name);
        const deployment = this.observedDeployment(namespace, deploymentNameOf(name));
        const proplets: Record<string, PropletState | undefined> = {};
        for (const id of propletIdsToObserve(cr, pods)) proplets[id] = await this.o.port.getProplet(id);
        const actions = planProplet(this.withOwnStatus(cr), { ...(deployment ? { deployment } : {}), pods, proplets }, { now, config: this.o.config });
        await applyActions(actions, cr as PlannedObject, { kube: this.o.kube, port: this.o.port, events: this.events, written: this.written });
      } else {
        const cr = this.task(namespace, name);
        if (!cr) return;
        const task = await this.o.port.getTask(taskIdOf(cr.metadata.uid ?? ''));
        const actions = planTask(this.withOwnStatus(cr), task ? { task } : {}, { now, config: this.o.config });
        await applyActions(actions, cr as PlannedObject, { kube: this.o.kube, port: this.o.port, events: this.events, written: this.written });
      }
      this.metrics.reconciles.inc({ kind, result: 'ok' });
    } catch (e) {
      this.metrics.reconciles.inc({ kind, result: 'error' });
      throw e;
    }
  }
}
