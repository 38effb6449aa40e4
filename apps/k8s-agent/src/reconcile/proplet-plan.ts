import { FINALIZER, type PropletPhase, type PropletResource, type PropletCrStatus } from '../crd/types';
import { PROPLET_SPEC_RULES, brokenRules } from '../crd/rules';
import { propletPhaseOf } from '../names';
import type { PropletRegistration, PropletState } from '../port/propeller-port';
import type { Action, CrRef } from './actions';
import { settleConditions, statusChanged, type DesiredCondition } from './conditions';
import { normalizeBroker, type ReconcileConfig } from './config';
import { SPEC_HASH_ANNOTATION, connectionOf, desiredDeployment, specHash } from './deployment';
import type { Deployment, Pod } from './k8s-objects';

/** What the operator observed about one Proplet CR. */
export interface PropletObserved {
  /** The `<name>-proplet` Deployment, if it exists. */
  deployment?: Deployment;
  /** Pods labelled with the CR's name. */
  pods: readonly Pod[];
  /** The registry's state of every id in `propletIdsToObserve` (undefined = never registered). */
  proplets: Readonly<Record<string, PropletState | undefined>>;
}

/** Time and configuration a plan depends on. */
export interface PlanContext {
  now: Date;
  config: ReconcileConfig;
}

const refOf = (cr: PropletResource): CrRef & { kind: 'Proplet' } => ({ kind: 'Proplet', namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name });

/** The device id of an external proplet: `spec.external.propletId`, default `metadata.name`. */
export const externalPropletId = (cr: PropletResource): string => cr.spec.external?.propletId ?? cr.metadata.name;

const podEnded = (p: Pod): boolean => p.metadata.deletionTimestamp !== undefined || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const podReady = (p: Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Every proplet id the plan needs the registry's state of: the live pods, the ids in status, the device id. */
export function propletIdsToObserve(cr: PropletResource, pods: readonly Pod[]): string[] {
  const ids = new Set<string>(cr.status?.propletIds ?? []);
  if (cr.spec.type === 'external') ids.add(externalPropletId(cr));
  for (const p of pods) ids.add(p.metadata.name);
  return [...ids].sort();
}

function registrationOf(cr: PropletResource, id: string, config: ReconcileConfig): PropletRegistration {
  const r = cr.spec.resources;
  const capacity: PropletRegistration['capacity'] = {};
  if (r?.cpu !== undefined) capacity.cpu = String(r.cpu);
  if (r?.memory !== undefined) capacity.memory = String(r.memory);
  const ext = cr.spec.external;
  const reg: PropletRegistration = {
    id,
    type: cr.spec.type,
    capabilities: [...(ext?.capabilities ?? [])],
    labels: { ...(cr.metadata.labels ?? {}) },
    capacity,
    connection: connectionOf(cr, config),
    owner: { namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name, uid: cr.metadata.uid ?? '' },
  };
  if (ext?.deviceType !== undefined) reg.deviceType = ext.deviceType;
  if (ext?.endpoint !== undefined) reg.endpoint = ext.endpoint;
  return reg;
}

const live = (s: PropletState | undefined): s is PropletState => s !== undefined && s.health !== 'deregistered';

/**
 * The pure reconcile of one Proplet CR: from the CR (desired) and what exists (observed), the
 * actions that make them meet. Level-based: it never depends on which change woke it up.
 */
export function planProplet(cr: PropletResource, observed: PropletObserved, ctx: PlanContext): Action[] {
  const ref = refOf(cr);
  const hasFinalizer = cr.metadata.finalizers?.includes(FINALIZER) ?? false;
  const actions: Action[] = [];

  if (cr.metadata.deletionTimestamp !== undefined) {
    if (!hasFinalizer) return [];
    const ids = propletIdsToObserve(cr, observed.pods).filter((id) => live(observed.proplets[id]));
    for (const id of ids) actions.push({ type: 'deregisterProplet', propletId: id, reason: 'PropletDeleted' });
    if (observed.deployment) actions.push({ type: 'deleteDeployment', target: { namespace: ref.namespace, name: observed.deployment.metadata.name } });
    if (ids.length > 0) actions.push(event(ref, 'Normal', 'Deregistered', `deregistered ${ids.length} proplet(s): ${ids.join(', ')}`));
    actions.push({ type: 'removeFinalizer', target: ref });
    return actions;
  }

  if (!hasFinalizer) actions.push({ type: 'addFinalizer', target: ref });

  const broken = brokenRules(PROPLET_SPEC_RULES, cr.spec);
  if (broken.length > 0) {
    const message = broken.join('; ');
    const status: PropletCrStatus = {
      ...(cr.status ?? {}),
      phase: 'Failed',
      conditions: settleConditions(cr.status?.conditions, [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }], ctx.now.toISOString(), cr.metadata.generation),
    };
    if (statusChanged(cr.status, status)) {
      actions.push({ type: 'patchStatus', target: ref, status });
      actions.push(event(ref, 'Warning', 'InvalidSpec', message));
    }
    return actions;
  }

  const result = cr.spec.type === 'k8s' ? planK8s(cr, observed, ctx, ref) : planExternal(cr, observed, ctx, ref);
  actions.push(...result.actions);
  const status = settleStatus(cr, result.status, result.states, ctx);
  if (statusChanged(cr.status, status)) {
    actions.push({ type: 'patchStatus', target: ref, status });
    actions.push(...transitionEvents(ref, cr.status, status));
  }
  return actions;
}

interface PartialPlan {
  actions: Action[];
  /** Status fields specific to the type; conditions and shared fields are added by `settleStatus`. */
  status: PropletCrStatus & { phase: PropletPhase; ready: DesiredCondition };
  /** Registry states of the proplets this CR currently stands for. */
  states: PropletState[];
}

function planK8s(cr: PropletResource, observed: PropletObserved, ctx: PlanContext, ref: CrRef): PartialPlan {
  const actions: Action[] = [];
  const want = desiredDeployment(cr, ctx.config);
  const have = observed.deployment;
  const wantHash = want.metadata.annotations?.[SPEC_HASH_ANNOTATION];
  if (!have) {
    actions.push({ type: 'createDeployment', deployment: want });
    actions.push(event(ref, 'Normal', 'DeploymentCreated', `created Deployment ${want.metadata.name} with ${want.spec.replicas} replica(s) of ${cr.spec.k8s?.image ?? ''}`));
  } else if (!have.metadata.ownerReferences?.some((o) => o.uid === cr.metadata.uid)) {
    // Never take over a Deployment someone else made: say so and leave it alone.
    actions.push(event(ref, 'Warning', 'DeploymentConflict', `Deployment ${have.metadata.name} exists and is not owned by this Proplet; rename one of them`));
  } else if (have.metadata.annotations?.[SPEC_HASH_ANNOTATION] !== wantHash) {
    actions.push({ type: 'updateDeployment', deployment: want });
    const onlyScaled = specHash({ ...want, spec: { ...want.spec, replicas: have.spec.replicas } }) === have.metadata.annotations?.[SPEC_HASH_ANNOTATION];
    const oldImage = have.spec.template.spec.containers[0]?.image;
    const message = onlyScaled
      ? `scaled Deployment ${want.metadata.name} from ${have.spec.replicas} to ${want.spec.replicas} replica(s)`
      : `updated Deployment ${want.metadata.name}` + (oldImage !== cr.spec.k8s?.image ? ` (image ${oldImage ?? '?'} → ${cr.spec.k8s?.image ?? '?'})` : '');
    actions.push(event(ref, 'Normal', onlyScaled ? 'Scaled' : 'DeploymentUpdated', message));
  }

  const livePods = observed.pods.filter((p) => !podEnded(p));
  const liveIds = new Set(livePods.map((p) => p.metadata.name));
  for (const pod of livePods) {
    const id = pod.metadata.name;
    if (!live(observed.proplets[id])) {
      actions.push({ type: 'registerProplet', registration: registrationOf(cr, id, ctx.config) });
    }
    // Pod readiness is the liveness of a k8s proplet; a resync rewrites it, so it stays fresh.
    actions.push({ type: 'writeLiveness', propletId: id, liveness: { status: podReady(pod) ? 'alive' : 'offline', at: ctx.now.toISOString() } });
  }
  // A pod that ended, is being deleted or vanished is deregistered at once, so its tasks move now.
  for (const id of propletIdsToObserve(cr, observed.pods)) {
    if (liveIds.has(id) || !live(observed.proplets[id])) continue;
    const pod = observed.pods.find((p) => p.metadata.name === id);
    const reason = pod && pod.metadata.deletionTimestamp === undefined ? 'PodEnded' : 'PodDeleted';
    actions.push({ type: 'deregisterProplet', propletId: id, reason });
    actions.push(event(ref, 'Normal', 'PropletDeregistered', `deregistered proplet ${id} (${reason === 'PodEnded' ? 'pod ended' : 'pod deleted'})`));
  }

  const desiredReplicas = want.spec.replicas;
  const readyReplicas = have?.status?.readyReplicas ?? 0;
  const availableReplicas = have?.status?.availableReplicas ?? 0;
  const states = [...liveIds].sort().map((id) => observed.proplets[id]).filter(live);
  const deadline = have?.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded');

  let phase: PropletPhase;
  if (deadline) phase = 'Failed';
  else if (desiredReplicas === 0) phase = 'Offline';
  else if (readyReplicas > 0 && states.some((s) => s.health === 'healthy')) phase = 'Running';
  else if (states.length > 0 && states.every((s) => s.health === 'failed')) phase = 'Failed';
  else if (states.length > 0 && states.every((s) => s.health === 'offline' || s.health === 'failed')) phase = 'Offline';
  else phase = 'Initializing';

  const ready: DesiredCondition =
    desiredReplicas === 0
      ? { type: 'Ready', status: 'False', reason: 'ScaledToZero', message: 'spec.k8s.replicas is 0' }
      : deadline
        ? { type: 'Ready', status: 'False', reason: 'ProgressDeadlineExceeded', message: deadline.message ?? 'the Deployment made no progress' }
        : readyReplicas >= desiredReplicas
          ? { type: 'Ready', status: 'True', reason: 'ReplicasReady', message: `${readyReplicas}/${desiredReplicas} replicas ready` }
          : { type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: `${readyReplicas}/${desiredReplicas} replicas ready` };

  return {
    actions,
    states,
    status: {
      phase,
      ready,
      replicas: desiredReplicas,
      readyReplicas,
      availableReplicas,
      replicaSummary: `${readyReplicas}/${desiredReplicas}`,
      propletIds: [...liveIds].sort(),
    },
  };
}

function planExternal(cr: PropletResource, observed: PropletObserved, ctx: PlanContext, ref: CrRef): PartialPlan {
  const actions: Action[] = [];
  const id = externalPropletId(cr);
  const state = observed.proplets[id];
  // Pre-register when the registry does not know the device, or when the CR's spec changed since the
  // last registration (declared fields win over what the device reports; registering is idempotent).
  if (!live(state)) {
    actions.push({ type: 'registerProplet', registration: registrationOf(cr, id, ctx.config) });
    actions.push(event(ref, 'Normal', 'Registered', `pre-registered external proplet ${id}${cr.spec.external?.deviceType ? ` (${cr.spec.external.deviceType})` : ''}`));
  } else if (cr.metadata.generation !== undefined && cr.metadata.generation !== cr.status?.observedGeneration) {
    actions.push({ type: 'registerProplet', registration: registrationOf(cr, id, ctx.config) });
  }
  // Ids this CR stood for before (another propletId, or the pods of a CR that was type k8s) go now.
  const formerIds = new Set([...(cr.status?.propletIds ?? []), ...observed.pods.map((p) => p.metadata.name)]);
  for (const old of [...formerIds].sort()) {
    if (old !== id && live(observed.proplets[old])) {
      actions.push({ type: 'deregisterProplet', propletId: old, reason: 'PropletIdChanged' });
      actions.push(event(ref, 'Normal', 'PropletDeregistered', `deregistered proplet ${old} (the Proplet now stands for ${id})`));
    }
  }
  // A CR switched from type k8s keeps no Deployment.
  if (observed.deployment && observed.deployment.metadata.ownerReferences?.some((o) => o.uid === cr.metadata.uid)) {
    actions.push({ type: 'deleteDeployment', target: { namespace: ref.namespace, name: observed.deployment.metadata.name } });
    actions.push(event(ref, 'Normal', 'DeploymentDeleted', `deleted Deployment ${observed.deployment.metadata.name}: spec.type is external`));
  }
  const phase: PropletPhase = live(state) ? propletPhaseOf(state.health) : 'Initializing';
  const ready: DesiredCondition =
    phase === 'Running'
      ? { type: 'Ready', status: 'True', reason: 'Healthy', message: `device ${id} is healthy` }
      : { type: 'Ready', status: 'False', reason: phase, message: phase === 'Initializing' ? `waiting for the first heartbeat of ${id}` : `device ${id} is ${phase.toLowerCase()}` };
  const status: PartialPlan['status'] = { phase, ready, propletIds: [id] };
  if (live(state) && state.available) status.availableResources = { ...state.available };
  return { actions, status, states: live(state) ? [state] : [] };
}

function settleStatus(cr: PropletResource, partial: PartialPlan['status'], states: PropletState[], ctx: PlanContext): PropletCrStatus {
  const { ready, ...fields } = partial;
  const conn = connectionOf(cr, ctx.config);
  const served = normalizeBroker(conn.broker) === normalizeBroker(ctx.config.mqttBroker);
  const connected: DesiredCondition = !served
    ? { type: 'Connected', status: 'False', reason: 'BrokerNotServed', message: `broker ${conn.broker} is not the broker the gateway serves (${ctx.config.mqttBroker})` }
    : states.some((s) => s.health === 'healthy')
      ? { type: 'Connected', status: 'True', reason: 'HeartbeatReceived', message: 'heartbeats arrive through the gateway' }
      : states.some((s) => s.health === 'offline' || s.health === 'failed')
        ? { type: 'Connected', status: 'False', reason: 'NoHeartbeat', message: 'no recent heartbeat' }
        : { type: 'Connected', status: 'Unknown', reason: 'AwaitingHeartbeat', message: 'no heartbeat yet' };
  const healthy: DesiredCondition =
    fields.phase === 'Running'
      ? { type: 'Healthy', status: 'True', reason: 'Healthy', message: 'the health monitor judges it healthy' }
      : fields.phase === 'Initializing'
        ? { type: 'Healthy', status: 'Unknown', reason: 'Initializing', message: 'not yet judged' }
        : { type: 'Healthy', status: 'False', reason: fields.phase, message: `the proplet is ${fields.phase.toLowerCase()}` };

  const status: PropletCrStatus = {
    ...fields,
    observedGeneration: cr.metadata.generation,
    taskCount: states.reduce((n, s) => n + s.taskCount, 0),
    conditions: settleConditions(cr.status?.conditions, [ready, connected, healthy], ctx.now.toISOString(), cr.metadata.generation),
  };
  if (status.observedGeneration === undefined) delete status.observedGeneration;
  const lastSeen = lastSeenOf(cr.status?.lastSeen, states, ctx);
  if (lastSeen !== undefined) status.lastSeen = lastSeen;
  return status;
}

/** The newest heartbeat, but moved at most once per `lastSeenWriteIntervalMs`, so status is not patched on every heartbeat. */
function lastSeenOf(previous: string | undefined, states: PropletState[], ctx: PlanContext): string | undefined {
  const newest = states.map((s) => s.lastSeenAt).filter((t): t is string => t !== undefined).sort().at(-1);
  if (newest === undefined) return previous;
  if (previous === undefined) return newest;
  return Date.parse(newest) - Date.parse(previous) >= ctx.config.lastSeenWriteIntervalMs ? newest : previous;
}

function transitionEvents(ref: CrRef, before: PropletCrStatus | undefined, after: PropletCrStatus): Action[] {
  const out: Action[] = [];
  if (after.phase !== undefined && before?.phase !== after.phase) {
    const warn = after.phase === 'Offline' || after.phase === 'Failed';
    out.push(event(ref, warn ? 'Warning' : 'Normal', after.phase, `phase ${before?.phase ?? '(none)'} → ${after.phase}`));
  }
  const wasNotServed = before?.conditions?.some((c) => c.type === 'Connected' && c.reason === 'BrokerNotServed');
  const notServed = after.conditions?.find((c) => c.type === 'Connected' && c.reason === 'BrokerNotServed');
  if (notServed && !wasNotServed) out.push(event(ref, 'Warning', 'BrokerNotServed', notServed.message ?? ''));
  return out;
}

function event(target: CrRef, eventType: 'Normal' | 'Warning', reason: string, message: string): Action {
  return { type: 'emitEvent', target, eventType, reason, message };
}
