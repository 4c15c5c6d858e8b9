/**
 * `segflow job run|status` and `segflow approve|reject`: workspace batch jobs from a job file, their status, and
 * the human decision on a plan. `approve` shows the plan and asks on a TTY; destructive items need their ids,
 * typed at the prompt or listed with --confirm, and --yes alone never approves one (./approve-flow.ts).
 */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { resolveJob, UsageError, withClient } from '../../client';
import { JobSpecError, parseJobSpecText, type JobSpec } from '../../core/job-spec';
import { workspaceJobStatusQuery } from '../../contracts/workspace-job';
import { action, EXIT, isJson, printJson } from '../common';
import { examples } from '../examples';
import { defaultBy, out } from '../terminal';
import { approveFlow, rejectFlow, type RejectOptions } from './approve-flow';
import { addJobFlowOptions, startAndShow, type JobFlowOptions } from './job-flow';
import { formatWorkspaceStatus } from './job-status-view';

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('Workspace batch jobs: preview, human approval, then execution');

  addJobFlowOptions(
    job
      .command('run')
      .description('Validate a job file (YAML or JSON) and start it; it previews, then waits for approval before any write')
      .argument('<file>'),
  )
    .addHelpText(
      'after',
      examples(
        'segflow job run cleanup.yaml',
        'segflow job run cleanup.yaml --wait',
        'segflow job run rotate.yaml --approve --confirm remove-write-key:src_1:ab12cd34ef56',
      ),
    )
    .action(
      action(async (file: string, opts: JobFlowOptions, command: Command) => {
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch {
          throw new UsageError(`Cannot read job file ${file}.`);
        }
        let spec: JobSpec;
        try {
          spec = parseJobSpecText(text, file);
        } catch (error) {
          if (error instanceof JobSpecError) throw new UsageError(error.message);
          throw error;
        }
        return startAndShow(spec, spec.name ?? basename(file, extname(file)), opts, command, true);
      }),
    );

  job
    .command('status')
    .description('Plan, approval and per-item outcomes of a workspace job')
    .argument('<jobId>')
    .addHelpText('after', examples('segflow job status workspace-cleanup-20240501-101500-ab12 --json'))
    .action(
      action(async (jobId: string, _opts: unknown, command: Command) =>
        withClient(async (sc) => {
          const handle = await resolveJob(sc, jobId);
          const status = await handle.query(workspaceJobStatusQuery);
          if (isJson(command)) printJson(status);
          else out(formatWorkspaceStatus(status));
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('approve')
    .description('Show the plan a job waits on and approve it (workspace jobs and imports with --require-approval)')
    .argument('<jobId>')
    .option('--by <name>', 'who approves', defaultBy())
    .option('--comment <text>', 'why, for the audit trail')
    .option('--yes', 'no yes/no prompt (destructive items still need --confirm)')
    .option('--confirm <ids...>', 'ids of every destructive item of the plan')
    .option('--key <file>', 'sign the approval with this private key (segflow approver keygen); required when the workers list approvers')
    .option('--approver <name>', 'the approver name the key is listed under (default: the key file name, alice.pem -> alice)')
    .option('--wait', 'follow the job until it ends')
    .addHelpText(
      'after',
      examples(
        'segflow approve workspace-cleanup-20240501-101500-ab12',
        'segflow approve <id> --yes --confirm delete-source:src_1 --comment "ticket OPS-42"',
        'segflow approve <id> --key ~/.segflow/alice.pem',
      ),
    )
    .action(
      action(async (jobId: string, opts: JobFlowOptions, command: Command) =>
        withClient(async (sc) => approveFlow(sc, await resolveJob(sc, jobId), opts, isJson(command), Boolean(opts.wait))),
      ),
    );

  program
    .command('reject')
    .description('Reject the plan a job waits on; the job ends with nothing changed')
    .argument('<jobId>')
    .requiredOption('--reason <text>', 'why (kept in the job history)')
    .option('--by <name>', 'who rejects', defaultBy())
    .option('--key <file>', 'sign the rejection with this private key; required when the workers list approvers')
    .option('--approver <name>', 'the approver name the key is listed under (default: the key file name)')
    .addHelpText('after', examples("segflow reject <job id> --reason 'wrong sources'"))
    .action(
      action(async (jobId: string, opts: RejectOptions, command: Command) =>
        withClient(async (sc) => rejectFlow(await resolveJob(sc, jobId), opts, isJson(command))),
      ),
    );
}
