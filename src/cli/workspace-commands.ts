/**
 * `segflow source|destination|usage|send|job|approve|reject|approver|audit`: the Segment workspace from the command
 * line, one file per command group in src/cli/workspace/ (README "Workspace batch jobs").
 *
 * - Reads (`source`, `destination`, `usage`) call the Public API directly from this process, with this shell's
 *   SEGMENT_API_TOKEN / SEGMENT_API_URL.
 * - Workspace writes never write directly: each starts a workspace job, previewed, guarded and approved like a job
 *   file (workspace/job-flow.ts).
 * - `send` posts a few events to the Tracking API with this shell's write key (workspace/send.ts).
 */
import type { Command } from 'commander';
import { registerApprovalCommands } from './approval-commands';
import { registerDestinationCommands } from './workspace/destination';
import { registerJobCommands } from './workspace/job';
import { registerSendCommands } from './workspace/send';
import { registerSourceCommands } from './workspace/source';
import { registerUsageCommands } from './workspace/usage';

export function registerWorkspaceCommands(program: Command): void {
  registerSourceCommands(program);
  registerDestinationCommands(program);
  registerUsageCommands(program);
  registerSendCommands(program);
  registerJobCommands(program);
  registerApprovalCommands(program);
}
