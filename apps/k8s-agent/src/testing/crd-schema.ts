import Ajv, { type ValidateFunction } from 'ajv';
import { parseYamlDocuments, readRepoFile } from './repo-files';

/**
 * Turns the `openAPIV3Schema` of deploy/crds.yaml into JSON Schema that ajv validates, so the
 * examples are checked against the very schema the API server enforces. The conversions are
 * the structural-schema semantics, made explicit:
 * - `x-kubernetes-int-or-string` keeps its `anyOf: [integer, string]` (and `pattern`, which ajv,
 *   like the API server, applies to strings only);
 * - `x-kubernetes-list-type: set` becomes `uniqueItems`;
 * - an object with `properties` and neither `additionalProperties` nor
 *   `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`: kubectl's default
 *   strict field validation rejects unknown fields, so a typo in an example must fail here too;
 * - `x-kubernetes-validations` (CEL) are dropped: ajv cannot run CEL. They are checked through
 *   the equivalent predicates of `src/crd/rules.ts` instead.
 */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(src)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toJsonSchema(v)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (src['x-kubernetes-list-type'] === 'set') out['uniqueItems'] = true;
  if (src['properties'] !== undefined && src['additionalProperties'] === undefined && src['x-kubernetes-preserve-unknown-fields'] !== true) {
    out['additionalProperties'] = false;
  }
  return out;
}

/** The fields of a CustomResourceDefinition the tests read. */
export interface CrdDocument {
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: Record<string, unknown>;
      additionalPrinterColumns?: Array<{ name: string; jsonPath: string }>;
      schema: { openAPIV3Schema: Record<string, unknown> };
    }>;
  };
}

/** The CRDs of deploy/crds.yaml, parsed. */
export function loadCrds(): CrdDocument[] {
  return parseYamlDocuments(readRepoFile('deploy/crds.yaml'), 'deploy/crds.yaml').map((d) => d.value as CrdDocument);
}

/** The raw `openAPIV3Schema` of one kind's v1alpha1 version. */
export function openApiSchemaOf(kind: 'Proplet' | 'Task'): Record<string, unknown> {
  const crd = loadCrds().find((c) => c.spec.names.kind === kind);
  const version = crd?.spec.versions.find((v) => v.name === 'v1alpha1');
  if (!version) throw new Error(`deploy/crds.yaml has no v1alpha1 ${kind}`);
  return version.schema.openAPIV3Schema;
}

/** The CEL rule strings of a schema node (e.g. `spec`), in order. */
export function celRulesOf(kind: 'Proplet' | 'Task', property: 'spec'): string[] {
  const node = (openApiSchemaOf(kind)['properties'] as Record<string, Record<string, unknown>>)[property];
  const rules = (node?.['x-kubernetes-validations'] ?? []) as Array<{ rule: string }>;
  return rules.map((r) => r.rule);
}

const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A validator per kind. `useDefaults` applies the CRD's defaults, as the API server does,
 * so a test can check them (e.g. `preferredPropletType: any`).
 */
export function crdValidators(): Record<'Proplet' | 'Task', ValidateFunction> {
  // strictTypes is off because int-or-string puts `pattern` beside `anyOf` without `type`, a form
  // the API server accepts (it is how resource.Quantity is declared); everything else stays strict.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictTypes: false });
  ajv.addFormat('date-time', DATE_TIME_RE);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  return {
    Proplet: ajv.compile(toJsonSchema(openApiSchemaOf('Proplet')) as object),
    Task: ajv.compile(toJsonSchema(openApiSchemaOf('Task')) as object),
  };
}
