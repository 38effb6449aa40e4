import type { Command } from 'commander';
import { API_ENV, ApiClient, DEFAULT_API, type ApiResponse } from './client';
import { json, type Io } from './output';

/** What every command gets: the API client, where to write, and whether to answer in JSON. */
export interface CliContext {
  client: ApiClient;
  io: Io;
  json: boolean;
}

/** How the program is wired: output and environment (tests pass their own). */
export interface CliDeps {
  io: Io;
  env: Record<string, string | undefined>;
  /** Delay between two polls of `propeller run` (default 200 ms). */
  pollMs?: number;
  /** Aborted on Ctrl-C: `propeller run` stops waiting (the task goes on) and says how to stop it. */
  interrupt?: AbortSignal;
}

/** The context of a command from its global options: `--api`, else `PROPELLER_API`, else `DEFAULT_API`. */
export function contextOf(cmd: Command, deps: CliDeps): CliContext {
  const o = cmd.optsWithGlobals<{ api?: string; json?: boolean }>();
  return { client: new ApiClient(o.api ?? deps.env[API_ENV] ?? DEFAULT_API), io: deps.io, json: o.json === true };
}

/**
 * Prints the answer of a write: the body as JSON with `--json`, else `human(body)`. A 202 means the API
 * accepted the write but its read model had not shown it yet; people are told where to look.
 */
export function printWrite<T>(ctx: CliContext, res: ApiResponse<T>, human: (body: T) => string): void {
  if (ctx.json) {
    ctx.io.out(json(res.body ?? { status: res.status }));
    return;
  }
  if (res.status === 202) {
    const location = res.headers.get('location') ?? (res.body as { location?: string } | undefined)?.location ?? '(no location)';
    ctx.io.out(`accepted; not visible yet, see ${location}`);
    return;
  }
  ctx.io.out(human(res.body));
}
