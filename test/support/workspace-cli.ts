/**
 * Runs the workspace commands of the CLI in this process against the run's dev server, capturing what they print and
 * their exit code (integration tests that drive `job`, `approve` and `audit`).
 */
import { Command } from 'commander';
import { inject, vi } from 'vitest';
import { registerWorkspaceCommands } from '../../src/cli/workspace-commands';

export async function runWorkspaceCli(
  env: NodeJS.ProcessEnv & { SEGFLOW_TASK_QUEUE: string },
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  Object.assign(process.env, env, { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: 'default' });
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    const program = new Command('segflow').option('--json').option('--verbose').exitOverride();
    registerWorkspaceCommands(program);
    process.exitCode = undefined;
    await program.parseAsync(['node', 'segflow', ...args]);
    return { code: Number(process.exitCode ?? 0), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}
