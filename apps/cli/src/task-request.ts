import { collect, collectList, parseDurationOption, parseInputs, parseIntOption, parseLabels } from './args';
import type { Command } from 'commander';
import { UsageError } from './output';

/** Task statuses after which nothing changes any more. */
export const TERMINAL_STATUSES: readonly string[] = ['completed', 'failed', 'stopped'];

/** Values of `--preferred`. */
export const PREFERRED_TYPES = ['k8s', 'external', 'any'] as const;

/** The placement and run options `tasks create` and `run` share, as commander parses them. */
export interface TaskOptions {
  inputs?: string;
  arg?: string[];
  env?: string[];
  daemon?: boolean;
  imageUrl?: string;
  selector?: string[];
  deviceType?: string[];
  capability?: string[];
  type?: string[];
  proplet?: string;
  preferred?: string;
  cpu?: string;
  memory?: string;
  timeout?: string;
  maxAttempts?: string;
  label?: string[];
  idempotencyKey?: string;
}

/** Adds the shared options to a command. */
export function withTaskOptions(cmd: Command): Command {
  return cmd
    .option('--inputs <list>', 'comma-separated inputs, e.g. 2,3 (numbers stay numbers)')
    .option('--arg <value>', 'a WASI command-line argument (repeatable)', collect)
    .option('--env <key=value>', 'a WASI environment variable (repeatable)', collect)
    .option('--daemon', 'keep running after a success result')
    .option('--selector <key=value>', 'run only on proplets with this label (repeatable: all of them)', collect)
    .option('--device-type <type>', 'run only on these device types (repeatable, or comma-separated)', collectList)
    .option('--capability <name>', 'run only on proplets with this capability (repeatable: all of them)', collectList)
    .option('--type <type>', 'run only on k8s or external proplets (repeatable)', collectList)
    .option('--proplet <id>', 'pin the task to this proplet')
    .option('--preferred <type>', 'prefer k8s or external proplets (a preference, not a rule)')
    .option('--cpu <quantity>', 'CPU the task needs (Kubernetes quantity, e.g. 500m)')
    .option('--memory <quantity>', 'memory the task needs (e.g. 64Mi)')
    .option('--timeout <duration>', 'per-attempt timeout, e.g. 30s (API default 10m; none for daemons)')
    .option('--max-attempts <n>', 'attempts before the task fails (API default 3)')
    .option('--label <key=value>', 'a label on the task itself (repeatable)', collect)
    .option('--idempotency-key <key>', 'a retried create with the same key creates nothing twice');
}

/**
 * The `POST /tasks` body in the API's snake_case (issue 4: upstream's fields plus `proplet_selector`,
 * `preferred_proplet_type`, `resource_requirements`, `max_attempts`, `timeout`, `start`). Only what the
 * user gave is sent, so the API's defaults apply to the rest.
 */
export function taskBody(name: string, o: TaskOptions, module: { file?: Uint8Array } = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { name };
  if (module.file !== undefined && o.imageUrl !== undefined) throw new UsageError('give a module file or --image-url, not both');
  if (module.file !== undefined) body['file'] = Buffer.from(module.file).toString('base64');
  if (o.imageUrl !== undefined) body['image_url'] = o.imageUrl;
  if (o.inputs !== undefined) body['inputs'] = parseInputs(o.inputs);
  if (o.arg !== undefined) body['cli_args'] = o.arg;
  if (o.env !== undefined) body['env'] = parseLabels(o.env, '--env');
  if (o.daemon === true) body['daemon'] = true;
  if (o.proplet !== undefined) body['proplet_id'] = o.proplet;
  if (o.preferred !== undefined) {
    if (!(PREFERRED_TYPES as readonly string[]).includes(o.preferred)) throw new UsageError(`--preferred: "${o.preferred}" must be one of ${PREFERRED_TYPES.join(', ')}`);
    body['preferred_proplet_type'] = o.preferred;
  }
  const selector: Record<string, unknown> = {};
  if (o.type !== undefined) selector['match_types'] = o.type;
  if (o.deviceType !== undefined) selector['match_device_types'] = o.deviceType;
  if (o.capability !== undefined) selector['match_capabilities'] = o.capability;
  if (o.selector !== undefined) selector['match_labels'] = parseLabels(o.selector, '--selector');
  if (Object.keys(selector).length > 0) body['proplet_selector'] = selector;
  if (o.cpu !== undefined || o.memory !== undefined) {
    body['resource_requirements'] = { ...(o.cpu === undefined ? {} : { cpu: o.cpu }), ...(o.memory === undefined ? {} : { memory: o.memory }) };
  }
  if (o.timeout !== undefined) body['timeout'] = `${parseDurationOption(o.timeout, '--timeout')}ms`;
  if (o.maxAttempts !== undefined) body['max_attempts'] = parseIntOption(o.maxAttempts, '--max-attempts', 1);
  if (o.label !== undefined) body['labels'] = parseLabels(o.label, '--label');
  return body;
}

/** The `Idempotency-Key` header when one was given. */
export const idempotencyHeaders = (o: TaskOptions): Record<string, string> => (o.idempotencyKey === undefined ? {} : { 'idempotency-key': o.idempotencyKey });
