/**
 * segflow's command line: one commander program, each command group registered from src/cli/. Imports and every
 * workspace change run as Temporal jobs (`import`, `job run`, and the `source` writes, which become approved
 * one-step jobs) carried out by workers; `worker` and `dev` run those workers. The rest answers directly:
 * read-only Public API calls (the `source` reads, `destination`, `usage`, `verify`), a few checked events (`send`),
 * reject reports (`rejects`) and approver keys (`approver`).
 */
import { Command } from 'commander';
import { registerImportCommands } from './cli/import-commands';
import { registerWorkspaceCommands } from './cli/workspace-commands';
import { registerRejectsCommand } from './cli/rejects-command';
import { registerVerifyCommand } from './cli/verify-command';
import { segflowVersion } from './version';

export function buildProgram(): Command {
  const program = new Command('segflow')
    .description('Durable imports and workspace batch jobs for Segment, run on Temporal')
    .version(segflowVersion(), '-V, --version', "print segflow's version")
    .option('--json', 'machine-readable JSON output only')
    .option('--verbose', 'show stack traces on errors')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text) });
  // commander's own usage errors (unknown option, missing argument) exit with our usage code.
  program.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
  registerImportCommands(program);
  registerWorkspaceCommands(program);
  registerVerifyCommand(program);
  registerRejectsCommand(program);
  return program;
}

export function main(argv: string[] = process.argv): Promise<unknown> {
  return buildProgram()
    .parseAsync(argv)
    .catch((error: unknown) => {
      process.stderr.write(`segflow: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    });
}

if (require.main === module) void main();
