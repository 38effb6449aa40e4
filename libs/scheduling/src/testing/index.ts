import { toCandidate } from '../candidate';
import { explanationText } from '../explanation';
import type { Placed, PlaceResult, Unschedulable } from '../place';
import type { PropletType } from '@propeller/events';
import type { Candidate, CandidateInput, SchedulingTask } from '../types';

/**
 * Fluent builders for tests and benchmarks (STYLE.md rule 18). A proplet starts healthy, k8s,
 * `wasmtime`, on channel `propeller/control`, with no reported capacity and no capabilities.
 */
export class PropletBuilder {
  private readonly input: CandidateInput;

  constructor(id: string) {
    this.input = { id, type: 'k8s', health: 'healthy', deviceType: 'linux', channel: 'propeller/control' };
  }

  ofType(type: PropletType): this {
    this.input.type = type;
    return this;
  }
  device(deviceType: string): this {
    this.input.deviceType = deviceType;
    return this;
  }
  /** An ESP32: external, `esp32`, `wamr`, on its own channel unless told otherwise. */
  esp32(channel = `propeller/${this.input.id}`): this {
    Object.assign(this.input, { type: 'external', deviceType: 'esp32', dialect: 'wamr', channel });
    return this;
  }
  withCapabilities(...capabilities: string[]): this {
    this.input.capabilities = capabilities;
    return this;
  }
  withLabels(labels: Record<string, string>): this {
    this.input.labels = labels;
    return this;
  }
  withCapacity(capacity: { cpu?: string | number; memory?: string | number }): this {
    this.input.capacity = capacity;
    return this;
  }
  withMaxTasks(n: number): this {
    this.input.maxTasks = n;
    return this;
  }
  health(health: CandidateInput['health']): this {
    this.input.health = health;
    return this;
  }
  cordoned(): this {
    this.input.cordoned = true;
    return this;
  }
  onChannel(channel: string): this {
    this.input.channel = channel;
    return this;
  }
  heardAt(at: number): this {
    this.input.lastHeardAt = at;
    return this;
  }
  build(): Candidate {
    return toCandidate({ ...this.input });
  }
}

/** Starts a proplet builder. */
export const aProplet = (id: string): PropletBuilder => new PropletBuilder(id);

/** Starts a task (`name` defaults to `add`); override any field. */
export const aTask = (id: string, fields: Partial<SchedulingTask> = {}): SchedulingTask => ({ id, name: 'add', ...fields });

/** The placement of a result, or a failure that prints why the task was unschedulable. */
export function placedOf(r: PlaceResult): Placed {
  if (r.placed === undefined) throw new Error(`expected a placement, got unschedulable:\n${explanationText(r.unschedulable.explanation)}`);
  return r.placed;
}

/** The unschedulable outcome of a result, or a failure naming where the task went. */
export function unschedulableOf(r: PlaceResult): Unschedulable {
  if (r.unschedulable === undefined) throw new Error(`expected unschedulable, got placed on ${r.placed.propletId}`);
  return r.unschedulable;
}

/** Deterministic PRNG (mulberry32) for random fleets, so a failing spec or a bench run reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One item of `xs`, drawn with `rnd`. */
export const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
/** Each item of `xs` with probability 0.4. */
export const some = <T>(rnd: () => number, xs: readonly T[]): T[] => xs.filter(() => rnd() < 0.4);
