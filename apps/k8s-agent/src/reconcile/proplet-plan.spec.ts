import { FINALIZER } from '../crd/types';
import { propletStatusPatch, NOW, TEST_CONFIG, aK8sProplet, aPod, aPropletState, actionsOf, anExternalProplet, applyToCr, withDeploymentStatus } from '../testing/builders';
import { SPEC_HASH_ANNOTATION, desiredDeployment } from './deployment';
import { planProplet, type PlanContext, type PropletObserved } from './proplet-plan';

const ctx: PlanContext = { now: NOW, config: TEST_CONFIG };
const nothing: PropletObserved = { pods: [], proplets: {} };
const later = (ms: number): PlanContext => ({ ...ctx, now: new Date(NOW.getTime() + ms) });

describe('planProplet for type k8s', () => {
  it('adds the finalizer to a new Proplet before anything else', () => {
    const actions = planProplet(aK8sProplet().withoutFinalizer().build(), nothing, ctx);
    expect(actions[0]).toEqual({ type: 'addFinalizer', target: { kind: 'Proplet', namespace: 'default', name: 'k8s-worker-pool' } });
  });

  it('creates Deployment <name>-proplet with the replicas, image, resources, MQTT env and owner reference', () => {
    const actions = planProplet(aK8sProplet('k8s-worker-pool', 3).build(), nothing, ctx);
    const [create] = actionsOf(actions, 'createDeployment');
    const d = create?.deployment;
    expect(d?.metadata).toMatchObject({ name: 'k8s-worker-pool-proplet', namespace: 'default' });
    expect(d?.metadata.ownerReferences).toEqual([
      { apiVersion: 'propeller.absmach.fr/v1alpha1', kind: 'Proplet', name: 'k8s-worker-pool', uid: 'uid-k8s-worker-pool', controller: true, blockOwnerDeletion: true },
    ]);
    expect(d?.metadata.labels).toMatchObject({ 'propeller.absmach.fr/proplet': 'k8s-worker-pool', 'app.kubernetes.io/managed-by': 'propeller-k8s-agent' });
    expect(d?.spec.replicas).toBe(3);
    expect(d?.spec.selector.matchLabels).toEqual({ 'propeller.absmach.fr/proplet': 'k8s-worker-pool' });
    const c = d?.spec.template.spec.containers[0];
    expect(c?.image).toBe('ghcr.io/absmach/propeller/proplet:v1');
    expect(c?.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '2', memory: '4Gi' } });
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      PROPLET_ID: { fieldRef: { fieldPath: 'metadata.name' } },
      PROPLET_TYPE: 'k8s',
      MQTT_BROKER: 'mqtt://mosquitto.propeller-system.svc:1883',
      PROPELLER_DOMAIN_ID: 'propeller',
      PROPELLER_CHANNEL_ID: 'control',
      MQTT_USERNAME: { secretKeyRef: { name: 'mqtt-credentials', key: 'username' } },
      MQTT_PASSWORD: { secretKeyRef: { name: 'mqtt-credentials', key: 'password' } },
      PROPLET_OWNER_NAME: 'k8s-worker-pool',
      PROPLET_OWNER_UID: 'uid-k8s-worker-pool',
    });
    expect(d?.metadata.annotations?.[SPEC_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    expect(d?.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c?.readinessProbe).toMatchObject({ httpGet: { path: '/health', port: 9090 } });
    expect(c?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(actionsOf(actions, 'emitEvent').map((e) => e.reason)).toContain('DeploymentCreated');
  });

  it('uses spec.k8s.resources for the pod when it is set, and connectionConfig over the operator config', () => {
    const cr = aK8sProplet().build();
    cr.spec.k8s = { ...cr.spec.k8s, resources: { requests: { cpu: '500m' }, limits: { cpu: '1', memory: '1Gi' } } };
    cr.spec.connectionConfig = { channelId: 'batch' };
    const d = desiredDeployment(cr, TEST_CONFIG);
    const c = d.spec.template.spec.containers[0];
    expect(c?.resources).toEqual({ requests: { cpu: '500m' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(c?.env?.find((e) => e.name === 'PROPELLER_CHANNEL_ID')?.value).toBe('batch');
    expect(c?.env?.find((e) => e.name === 'PROPELLER_DOMAIN_ID')?.value).toBe('propeller');
  });

  it('leaves an up-to-date Deployment alone', () => {
    const cr = aK8sProplet().build();
    const actions = planProplet(cr, { ...nothing, deployment: desiredDeployment(cr, TEST_CONFIG) }, ctx);
    expect(actions.filter((a) => a.type.endsWith('Deployment'))).toEqual([]);
  });

  it('scales the Deployment when spec.k8s.replicas changes, and says so in an event', () => {
    const before = aK8sProplet('pool', 3).build();
    const after = aK8sProplet('pool', 5).build();
    const actions = planProplet(after, { ...nothing, deployment: desiredDeployment(before, TEST_CONFIG) }, ctx);
    expect(actionsOf(actions, 'updateDeployment')[0]?.deployment.spec.replicas).toBe(5);
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'Scaled')?.message).toBe('scaled Deployment pool-proplet from 3 to 5 replica(s)');
  });

  it('updates the image when spec.k8s.image changes', () => {
    const before = aK8sProplet('pool', 2, 'proplet:v1').build();
    const after = aK8sProplet('pool', 2, 'proplet:v2').build();
    const actions = planProplet(after, { ...nothing, deployment: desiredDeployment(before, TEST_CONFIG) }, ctx);
    const [update] = actionsOf(actions, 'updateDeployment');
    expect(update?.deployment.spec.template.spec.containers[0]?.image).toBe('proplet:v2');
    expect(update?.deployment.metadata.annotations?.[SPEC_HASH_ANNOTATION]).not.toBe(desiredDeployment(before, TEST_CONFIG).metadata.annotations?.[SPEC_HASH_ANNOTATION]);
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'DeploymentUpdated')?.message).toContain('proplet:v1 → proplet:v2');
  });

  it('never takes over a Deployment of the same name that another owner made', () => {
    const cr = aK8sProplet().build();
    const foreign = desiredDeployment(aK8sProplet('k8s-worker-pool', 1, 'other').build(), TEST_CONFIG);
    foreign.metadata.ownerReferences = [];
    const actions = planProplet(cr, { ...nothing, deployment: foreign }, ctx);
    expect(actions.filter((a) => a.type.endsWith('Deployment'))).toEqual([]);
    expect(actionsOf(actions, 'emitEvent').map((e) => e.reason)).toContain('DeploymentConflict');
  });

  it('registers each new pod as a k8s proplet owned by the CR and writes its readiness as liveness', () => {
    const cr = aK8sProplet('pool', 2).build();
    const pods = [aPod('pool', 'a'), aPod('pool', 'b', { ready: false })];
    const actions = planProplet(cr, { deployment: desiredDeployment(cr, TEST_CONFIG), pods, proplets: { 'pool-proplet-a': aPropletState('pool-proplet-a', 'healthy') } }, ctx);
    const regs = actionsOf(actions, 'registerProplet').map((a) => a.registration);
    expect(regs).toHaveLength(1);
    expect(regs[0]).toMatchObject({ id: 'pool-proplet-b', type: 'k8s', capacity: { cpu: '2', memory: '4Gi' }, owner: { namespace: 'default', name: 'pool', uid: 'uid-pool' } });
    expect(actionsOf(actions, 'writeLiveness').map((a) => [a.propletId, a.liveness.status])).toEqual([
      ['pool-proplet-a', 'alive'],
      ['pool-proplet-b', 'offline'],
    ]);
  });

  it.each([
    ['is being deleted', aPod('pool', 'a', { deleting: true }), 'PodDeleted'],
    ['has ended', aPod('pool', 'a', { phase: 'Failed' }), 'PodEnded'],
    ['has vanished', undefined, 'PodDeleted'],
  ])('deregisters at once a pod that %s', (_what, pod, reason) => {
    const cr = aK8sProplet('pool', 1).status({ propletIds: ['pool-proplet-a'] }).build();
    const observed: PropletObserved = { deployment: desiredDeployment(cr, TEST_CONFIG), pods: pod ? [pod] : [], proplets: { 'pool-proplet-a': aPropletState('pool-proplet-a', 'healthy') } };
    const actions = planProplet(cr, observed, ctx);
    expect(actionsOf(actions, 'deregisterProplet')).toEqual([{ type: 'deregisterProplet', propletId: 'pool-proplet-a', reason }]);
    expect(actionsOf(actions, 'registerProplet')).toEqual([]);
    expect(propletStatusPatch(actions)?.propletIds).toEqual([]);
  });

  it('does not deregister a proplet the registry already deregistered', () => {
    const cr = aK8sProplet('pool', 1).status({ propletIds: ['pool-proplet-a'] }).build();
    const actions = planProplet(cr, { pods: [], proplets: { 'pool-proplet-a': aPropletState('pool-proplet-a', 'deregistered') } }, ctx);
    expect(actionsOf(actions, 'deregisterProplet')).toEqual([]);
  });

  it('is Running and Ready when every replica is ready and the registry hears heartbeats', () => {
    const cr = aK8sProplet('pool', 2).build();
    const deployment = withDeploymentStatus(desiredDeployment(cr, TEST_CONFIG), { replicas: 2, readyReplicas: 2, availableReplicas: 2 });
    const pods = [aPod('pool', 'a'), aPod('pool', 'b')];
    const proplets = {
      'pool-proplet-a': aPropletState('pool-proplet-a', 'healthy', { taskCount: 2, lastSeenAt: '2026-11-27T13:59:50.000Z' }),
      'pool-proplet-b': aPropletState('pool-proplet-b', 'unknown', { taskCount: 1 }),
    };
    const patch = propletStatusPatch(planProplet(cr, { deployment, pods, proplets }, ctx));
    expect(patch).toMatchObject({ phase: 'Running', readyReplicas: 2, replicas: 2, replicaSummary: '2/2', taskCount: 3, lastSeen: '2026-11-27T13:59:50.000Z', propletIds: ['pool-proplet-a', 'pool-proplet-b'] });
    expect(patch?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'ReplicasReady'],
      ['Connected', 'True', 'HeartbeatReceived'],
      ['Healthy', 'True', 'Healthy'],
    ]);
  });

  it('is Initializing and not Ready while replicas start', () => {
    const cr = aK8sProplet('pool', 3).build();
    const deployment = withDeploymentStatus(desiredDeployment(cr, TEST_CONFIG), { replicas: 3, readyReplicas: 1 });
    const patch = propletStatusPatch(planProplet(cr, { deployment, pods: [aPod('pool', 'a')], proplets: {} }, ctx));
    expect(patch?.phase).toBe('Initializing');
    expect(patch?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '1/3 replicas ready' });
  });

  it('is Failed when the Deployment exceeds its progress deadline', () => {
    const cr = aK8sProplet('pool', 1).build();
    const deployment = withDeploymentStatus(desiredDeployment(cr, TEST_CONFIG), {
      readyReplicas: 0,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ImagePullBackOff' }],
    });
    const actions = planProplet(cr, { deployment, pods: [], proplets: {} }, ctx);
    expect(propletStatusPatch(actions)?.phase).toBe('Failed');
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'Failed')?.eventType).toBe('Warning');
  });

  it('on deletion deregisters every proplet, deletes the Deployment, then removes the finalizer', () => {
    const cr = aK8sProplet('pool', 2).deleting().status({ propletIds: ['pool-proplet-a', 'pool-proplet-b'] }).build();
    const proplets = { 'pool-proplet-a': aPropletState('pool-proplet-a', 'healthy'), 'pool-proplet-b': aPropletState('pool-proplet-b', 'offline') };
    const actions = planProplet(cr, { deployment: desiredDeployment(cr, TEST_CONFIG), pods: [aPod('pool', 'a')], proplets }, ctx);
    expect(actions.map((a) => a.type)).toEqual(['deregisterProplet', 'deregisterProplet', 'deleteDeployment', 'emitEvent', 'removeFinalizer']);
    expect(actionsOf(actions, 'deleteDeployment')[0]?.target).toEqual({ namespace: 'default', name: 'pool-proplet' });
  });

  it('does nothing for a deleted Proplet whose finalizer is already gone', () => {
    expect(planProplet(aK8sProplet().deleting().withoutFinalizer().build(), nothing, ctx)).toEqual([]);
  });

  it('refuses a k8s Proplet without an image (the CEL rule, re-checked) and makes no Deployment', () => {
    const cr = aK8sProplet().build();
    delete cr.spec.k8s?.image;
    const actions = planProplet(cr, nothing, ctx);
    expect(actionsOf(actions, 'createDeployment')).toEqual([]);
    expect(propletStatusPatch(actions)?.conditions?.[0]).toMatchObject({ reason: 'InvalidSpec', message: 'spec.k8s.image is required when spec.type is k8s' });
  });
});

describe('planProplet for type external', () => {
  it('pre-registers the device under metadata.name with its type, capabilities, endpoint, capacity and labels', () => {
    const cr = anExternalProplet('esp32-sensor-node', { deviceType: 'esp32', capabilities: ['sensor', 'wifi'], endpoint: '192.168.10.21' }).labels({ 'propeller.io/site': 'greenhouse-1' }).build();
    const actions = planProplet(cr, nothing, ctx);
    expect(actionsOf(actions, 'registerProplet')[0]?.registration).toEqual({
      id: 'esp32-sensor-node',
      type: 'external',
      deviceType: 'esp32',
      capabilities: ['sensor', 'wifi'],
      endpoint: '192.168.10.21',
      labels: { 'propeller.io/site': 'greenhouse-1' },
      capacity: { cpu: '240m', memory: '320Ki' },
      connection: { domainId: 'propeller', channelId: 'control', broker: 'mqtt://mosquitto.propeller-system.svc:1883' },
      owner: { namespace: 'default', name: 'esp32-sensor-node', uid: 'uid-esp32-sensor-node' },
    });
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'Registered')?.message).toBe('pre-registered external proplet esp32-sensor-node (esp32)');
    expect(actionsOf(actions, 'createDeployment')).toEqual([]);
  });

  it('uses spec.external.propletId when set, and deregisters the old id when it changes', () => {
    const cr = anExternalProplet('node', { propletId: 'dev-2' }).status({ propletIds: ['dev-1'], observedGeneration: 1 }).build();
    const actions = planProplet(cr, { pods: [], proplets: { 'dev-1': aPropletState('dev-1', 'healthy', { type: 'external' }) } }, ctx);
    expect(actionsOf(actions, 'registerProplet')[0]?.registration.id).toBe('dev-2');
    expect(actionsOf(actions, 'deregisterProplet')).toEqual([{ type: 'deregisterProplet', propletId: 'dev-1', reason: 'PropletIdChanged' }]);
  });

  it('deletes the Deployment and deregisters the pods of a Proplet switched from type k8s to external', () => {
    const wasK8s = aK8sProplet('node', 1).build();
    const cr = anExternalProplet('node').status({ propletIds: ['node-proplet-a'] }).build();
    const observed: PropletObserved = {
      deployment: desiredDeployment(wasK8s, TEST_CONFIG),
      pods: [aPod('node', 'a')],
      proplets: { 'node-proplet-a': aPropletState('node-proplet-a', 'healthy') },
    };
    const actions = planProplet(cr, observed, ctx);
    expect(actionsOf(actions, 'deleteDeployment')).toEqual([{ type: 'deleteDeployment', target: { namespace: 'default', name: 'node-proplet' } }]);
    expect(actionsOf(actions, 'deregisterProplet').map((a) => a.propletId)).toEqual(['node-proplet-a']);
    expect(actionsOf(actions, 'registerProplet')[0]?.registration.id).toBe('node');
  });

  it('does not register again a device the registry knows at the same generation, but does after a spec change', () => {
    const known = { pods: [], proplets: { node: aPropletState('node', 'healthy', { type: 'external' as const }) } };
    const same = anExternalProplet('node').status({ observedGeneration: 1, propletIds: ['node'] }).build();
    expect(actionsOf(planProplet(same, known, ctx), 'registerProplet')).toEqual([]);
    const changed = anExternalProplet('node').generation(2).status({ observedGeneration: 1, propletIds: ['node'] }).build();
    expect(actionsOf(planProplet(changed, known, ctx), 'registerProplet')).toHaveLength(1);
  });

  it.each([
    ['unknown', 'Initializing', 'Unknown'],
    ['healthy', 'Running', 'True'],
    ['offline', 'Offline', 'False'],
    ['failed', 'Failed', 'False'],
  ] as const)('maps registry health %s to phase %s (Healthy=%s)', (health, phase, healthy) => {
    const cr = anExternalProplet('node').build();
    const patch = propletStatusPatch(planProplet(cr, { pods: [], proplets: { node: aPropletState('node', health, { type: 'external' }) } }, ctx));
    expect(patch?.phase).toBe(phase);
    expect(patch?.conditions?.find((c) => c.type === 'Healthy')?.status).toBe(healthy);
  });

  it('reports the device available resources and task count from the registry', () => {
    const cr = anExternalProplet('node').build();
    const state = aPropletState('node', 'healthy', { type: 'external', taskCount: 2, available: { cpu: '100m', memory: '64Ki' } });
    const patch = propletStatusPatch(planProplet(cr, { pods: [], proplets: { node: state } }, ctx));
    expect(patch).toMatchObject({ taskCount: 2, availableResources: { cpu: '100m', memory: '64Ki' } });
  });

  it('sets Connected=False with reason BrokerNotServed when the CR names another broker', () => {
    const cr = anExternalProplet('node').build();
    cr.spec.connectionConfig = { broker: 'mqtt://elsewhere:1883' };
    const actions = planProplet(cr, nothing, ctx);
    expect(propletStatusPatch(actions)?.conditions?.find((c) => c.type === 'Connected')).toMatchObject({ status: 'False', reason: 'BrokerNotServed' });
    expect(actionsOf(actions, 'emitEvent').find((e) => e.reason === 'BrokerNotServed')?.eventType).toBe('Warning');
  });

  it('treats the same broker written as host:port as served', () => {
    const cr = anExternalProplet('node').build();
    cr.spec.connectionConfig = { broker: 'Mosquitto.propeller-system.svc:1883' };
    const patch = propletStatusPatch(planProplet(cr, nothing, ctx));
    expect(patch?.conditions?.find((c) => c.type === 'Connected')?.reason).not.toBe('BrokerNotServed');
  });
});

describe('Proplet status writes', () => {
  const node = (lastSeenAt: string) => ({ pods: [], proplets: { node: aPropletState('node', 'healthy', { type: 'external', lastSeenAt }) } });

  it('patches status only when it changes', () => {
    const cr = anExternalProplet('node').build();
    const first = planProplet(cr, node('2026-11-27T13:59:00.000Z'), ctx);
    expect(actionsOf(first, 'patchStatus')).toHaveLength(1);
    const written = applyToCr(cr, first);
    expect(planProplet(written, node('2026-11-27T13:59:00.000Z'), later(5_000))).toEqual([]);
  });

  it('moves lastSeen at most once a minute', () => {
    const written = applyToCr(anExternalProplet('node').build(), planProplet(anExternalProplet('node').build(), node('2026-11-27T13:59:00.000Z'), ctx));
    expect(written.status?.lastSeen).toBe('2026-11-27T13:59:00.000Z');
    expect(planProplet(written, node('2026-11-27T13:59:30.000Z'), later(30_000))).toEqual([]);
    const patch = propletStatusPatch(planProplet(written, node('2026-11-27T14:00:05.000Z'), later(65_000)));
    expect(patch?.lastSeen).toBe('2026-11-27T14:00:05.000Z');
  });

  it('keeps a condition lastTransitionTime while its status stays the same', () => {
    const cr = anExternalProplet('node').build();
    const written = applyToCr(cr, planProplet(cr, node('2026-11-27T13:59:00.000Z'), ctx));
    const healthyAt = written.status?.conditions?.find((c) => c.type === 'Healthy')?.lastTransitionTime;
    const offline = { pods: [], proplets: { node: aPropletState('node', 'offline', { type: 'external', lastSeenAt: '2026-11-27T13:59:00.000Z' }) } };
    const patch = propletStatusPatch(planProplet(written, offline, later(300_000)));
    expect(patch?.conditions?.find((c) => c.type === 'Healthy')?.lastTransitionTime).not.toBe(healthyAt);
    expect(patch?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    expect(written.metadata.finalizers).toEqual([FINALIZER]);
  });
});
