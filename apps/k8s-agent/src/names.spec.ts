import { PROPLET_PHASES, TASK_PHASES, propletPhaseOf, taskPhaseOf } from './names';
import { openApiSchemaOf } from './testing/crd-schema';

const statusEnum = (kind: 'Proplet' | 'Task'): unknown => {
  const status = (openApiSchemaOf(kind)['properties'] as Record<string, { properties: { phase: { enum: string[] } } }>)['status'];
  return status?.properties.phase.enum;
};

describe('domain names ↔ CRD phases', () => {
  it.each([
    ['created', 'Pending'],
    ['pending', 'Pending'],
    ['scheduled', 'Scheduled'],
    ['running', 'Running'],
    ['completed', 'Completed'],
    ['failed', 'Failed'],
    ['stopped', 'Stopped'],
  ] as const)('maps task status %s to phase %s', (status, phase) => {
    expect(taskPhaseOf(status)).toBe(phase);
  });

  it.each([
    ['unknown', 'Initializing'],
    ['healthy', 'Running'],
    ['offline', 'Offline'],
    ['failed', 'Failed'],
    ['deregistered', 'Offline'],
  ] as const)('maps proplet health %s to phase %s', (health, phase) => {
    expect(propletPhaseOf(health)).toBe(phase);
  });

  it('lists exactly the phases the CRDs allow', () => {
    expect(statusEnum('Proplet')).toEqual(PROPLET_PHASES);
    expect(statusEnum('Task')).toEqual(TASK_PHASES);
  });
});
