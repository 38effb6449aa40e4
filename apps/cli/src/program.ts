import { Command, CommanderError } from 'commander';
import { API_ENV, DEFAULT_API } from './client';
import { adminCommand } from './commands/admin';
import { propletsCommand } from './commands/proplets';
import { runCommand } from './commands/run';
import { sitesCommand } from './commands/sites';
import { tasksCommand } from './commands/tasks';
import type { CliDeps } from './context';
import { describeError, EXIT, processIo } from './output';

/** The `propeller` command tree; output goes to `deps.io`, so tests run it in-process. */
export function buildProgram(deps: CliDeps): Command {
  const program = new Command('propeller')
    .description('Run WebAssembly tasks on Kubernetes pods and edge devices through the Propeller API')
    .option('--api <url>', `address of the REST API (default ${DEFAULT_API}, or $${API_ENV})`)
    .option('--json', 'answer in JSON for scripts instead of tables')
    .showHelpAfterError()
    // Commander would call process.exit; runCli turns its errors into exit codes instead.
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.io.out(s), writeErr: (s) => deps.io.err(s), outputError: (s, write) => write(s) });
  // Subcommands inherit the settings above only when they are created through `.command()`; these are built apart.
  for (const sub of [propletsCommand(deps), tasksCommand(deps), runCommand(deps), sitesCommand(deps), adminCommand(deps)]) {
    program.addCommand(inherit(sub, program));
  }
  return program;
}

function inherit(cmd: Command, from: Command): Command {
  cmd.copyInheritedSettings(from);
  for (const sub of cmd.commands) inherit(sub, from);
  return cmd;
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and resolves with the exit code: 0 ok,
 * 1 refused or failed, 2 bad usage, 3 API unreachable, 130 interrupted (`EXIT`). Never calls `process.exit`.
 */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" to commander; they were printed already.
      if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    const { text, code } = describeError(e);
    deps.io.err(text);
    return code;
  }
}

/** The process entry: real stdout/stderr and environment. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const interrupt = new AbortController();
  // The first Ctrl-C ends a wait cleanly (with a hint); a second one exits at once.
  process.once('SIGINT', () => {
    interrupt.abort();
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  });
  process.exitCode = await runCli(argv, { io: processIo, env: process.env, interrupt: interrupt.signal });
}
