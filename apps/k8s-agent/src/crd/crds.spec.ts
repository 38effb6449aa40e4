import { API_VERSION } from './types';
import { PROPLET_SPEC_RULES, TASK_SPEC_RULES, brokenRules } from './rules';
import { celRulesOf, crdValidators, loadCrds } from '../testing/crd-schema';
import { yamlDocumentsUnder } from '../testing/repo-files';
import type { PropletSpec, TaskSpec } from './types';

type Kind = 'Proplet' | 'Task';
interface Cr {
  apiVersion: string;
  kind: Kind;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

const validators = crdValidators();
const clone = <T>(v: T): T => structuredClone(v);

/** Schema errors plus broken CEL rules (through their TypeScript equivalents), as one list. */
function problems(doc: Cr): string[] {
  const copy = clone(doc);
  const validate = validators[copy.kind];
  const schemaErrors = validate(copy) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  if (typeof copy.spec !== 'object' || copy.spec === null) return schemaErrors;
  const cel = copy.kind === 'Proplet' ? brokenRules(PROPLET_SPEC_RULES, copy.spec as unknown as PropletSpec) : brokenRules(TASK_SPEC_RULES, copy.spec as unknown as TaskSpec);
  return [...schemaErrors, ...cel];
}

const examples = yamlDocumentsUnder('docs').filter((d) => (d.value as { apiVersion?: unknown }).apiVersion === API_VERSION);

const proplet = (spec: Record<string, unknown>): Cr => ({ apiVersion: API_VERSION, kind: 'Proplet', metadata: { name: 'p' }, spec });
const task = (spec: Record<string, unknown>): Cr => ({ apiVersion: API_VERSION, kind: 'Task', metadata: { name: 't' }, spec });

describe('deploy/crds.yaml', () => {
  const crds = loadCrds();

  it('declares Proplet and Task as namespaced v1alpha1 kinds of propeller.absmach.fr in category propeller with a status subresource', () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['Proplet', 'Task']);
    for (const crd of crds) {
      expect(crd.spec.group).toBe('propeller.absmach.fr');
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.names.categories).toEqual(['propeller']);
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.propeller.absmach.fr`);
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    }
  });

  it('gives proplets the short name pp and the printer columns the issue lists', () => {
    const byKind = new Map(crds.map((c) => [c.spec.names.kind, c.spec]));
    expect(byKind.get('Proplet')?.names.shortNames).toContain('pp');
    const cols = (k: string) => (byKind.get(k)?.versions[0]?.additionalPrinterColumns ?? []).map((c) => c.name);
    expect(cols('Proplet')).toEqual(['Type', 'Phase', 'Ready', 'Tasks', 'Replicas', 'Last Seen', 'Age']);
    expect(cols('Task')).toEqual(['Phase', 'Proplet', 'Preferred', 'Start', 'Age']);
  });

  it('writes the same CEL rules the operator re-checks in src/crd/rules.ts', () => {
    expect(celRulesOf('Proplet', 'spec')).toEqual(PROPLET_SPEC_RULES.map((r) => r.rule));
    expect(celRulesOf('Task', 'spec')).toEqual(TASK_SPEC_RULES.map((r) => r.rule));
  });
});

describe('every Propeller example in docs/', () => {
  it('includes the four examples the issue names', () => {
    const names = examples.map((d) => (d.value as Cr).metadata.name);
    expect(names).toEqual(expect.arrayContaining(['sensor-processing', 'ml-inference', 'k8s-worker-pool', 'esp32-sensor-node']));
  });

  it.each(examples.map((d) => [d.source, d.value as Cr] as const))('%s validates against its CRD schema and CEL rules', (_source, doc) => {
    expect(['Proplet', 'Task']).toContain(doc.kind);
    expect(problems(doc)).toEqual([]);
  });
});

describe('the CRD schema', () => {
  it('applies the declared defaults: one replica, preferredPropletType any, daemon false', () => {
    const p = proplet({ type: 'k8s', k8s: { image: 'img' } });
    const t = task({ name: 'add', imageUrl: 'x' });
    expect(validators.Proplet(p)).toBe(true);
    expect(validators.Task(t)).toBe(true);
    expect((p.spec['k8s'] as { replicas: number }).replicas).toBe(1);
    expect(t.spec).toMatchObject({ preferredPropletType: 'any', daemon: false });
  });

  it.each([
    ['a Proplet without spec.type', proplet({ external: { deviceType: 'esp32' } }), /must have required property 'type'/],
    ['a Proplet of an unknown type', proplet({ type: 'vm' }), /must be equal to one of the allowed values/],
    ['a Proplet with a malformed cpu quantity', proplet({ type: 'external', resources: { cpu: '2 cores' } }), /resources\/cpu must match pattern/],
    ['a Proplet with a negative memory quantity', proplet({ type: 'external', resources: { memory: '-1Gi' } }), /must match pattern/],
    ['a Proplet with a misspelled field', proplet({ type: 'external', extrenal: {} }), /must NOT have additional properties/],
    ['a Proplet with negative replicas', proplet({ type: 'k8s', k8s: { image: 'i', replicas: -1 } }), /must be >= 0/],
    ['a k8s Proplet without an image (CEL)', proplet({ type: 'k8s', k8s: { replicas: 2 } }), /spec\.k8s\.image is required/],
    ['an external Proplet with a k8s block (CEL)', proplet({ type: 'external', k8s: { image: 'i' } }), /spec\.k8s must not be set/],
    ['a Task without spec.name', task({ imageUrl: 'x' }), /must have required property 'name'/],
    ['a Task with a bad preferredPropletType', task({ name: 'a', imageUrl: 'x', preferredPropletType: 'edge' }), /must be equal to one of the allowed values/],
    ['a Task with both imageUrl and file (CEL)', task({ name: 'a', imageUrl: 'x', file: 'AGFzbQ==' }), /exactly one of spec.imageUrl or spec.file/],
    ['a Task with neither imageUrl nor file (CEL)', task({ name: 'a' }), /exactly one of spec.imageUrl or spec.file/],
    ['a Task whose file is not base64', task({ name: 'a', file: 'not base64!' }), /file must match pattern/],
    ['a Task with a malformed memory requirement', task({ name: 'a', imageUrl: 'x', resourceRequirements: { memory: '1 GB' } }), /must match pattern/],
    ['a Task with an input that is neither integer nor string', task({ name: 'a', imageUrl: 'x', inputs: [true] }), /must match a schema in anyOf/],
  ])('rejects %s', (_what, doc, expected) => {
    const found = problems(doc);
    expect(found.join('\n')).toMatch(expected);
  });

  it('accepts quantities written as integers or as suffixed strings', () => {
    for (const cpu of [2, '2', '500m', '0.5', '1e3']) expect(problems(proplet({ type: 'external', resources: { cpu, memory: '256Mi' } }))).toEqual([]);
  });
});
