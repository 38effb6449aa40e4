import { InvalidError } from '@propeller/events';
import { orThrow, parseCpuMillis, parseMemoryBytes } from './quantity';
import type { Candidate, CandidateInput, ParsedCapacity, ParsedRequirements, SchedulingTask } from './types';

/**
 * Normalises a proplet into a `Candidate`: capacity parsed to millicores / bytes, capabilities a set.
 * Throws `InvalidError` naming the field (`capacity.cpu`, `maxTasks`) for bad input.
 */
export function toCandidate(input: CandidateInput): Candidate {
  // Every candidate gets every property, in the same order, so the filter's hot loop sees one
  // object shape (monomorphic property access is several times faster over 10,000 proplets).
  const capacity: ParsedCapacity = {
    cpuMillis: input.capacity?.cpu === undefined ? undefined : orThrow(parseCpuMillis(input.capacity.cpu, 'capacity.cpu')),
    memoryBytes: input.capacity?.memory === undefined ? undefined : orThrow(parseMemoryBytes(input.capacity.memory, 'capacity.memory')),
  };
  if (input.maxTasks !== undefined && !(Number.isInteger(input.maxTasks) && input.maxTasks >= 0)) {
    throw InvalidError.field('maxTasks', input.maxTasks, 'must be a non-negative integer');
  }
  const candidate: Candidate = {
    id: input.id,
    type: input.type,
    deviceType: input.deviceType ?? '',
    capabilities: new Set(input.capabilities ?? []),
    labels: input.labels ?? {},
    capacity,
    health: input.health,
    cordoned: input.cordoned ?? false,
    dialect: input.dialect ?? 'wasmtime',
    channel: input.channel ?? '',
    lastHeardAt: input.lastHeardAt,
    maxTasks: input.maxTasks,
  };
  return candidate;
}

/** Parses a task's `resourceRequirements`; throws `InvalidError` naming `resourceRequirements.cpu|memory`. */
export function parseRequirements(task: Pick<SchedulingTask, 'resourceRequirements'>): ParsedRequirements {
  const r = task.resourceRequirements;
  return {
    cpuMillis: r?.cpu === undefined ? 0 : orThrow(parseCpuMillis(r.cpu, 'resourceRequirements.cpu')),
    memoryBytes: r?.memory === undefined ? 0 : orThrow(parseMemoryBytes(r.memory, 'resourceRequirements.memory')),
  };
}
