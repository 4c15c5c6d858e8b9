/**
 * `segflow import|status|pause|resume|cancel|watch|worker`.
 */
import { isValidJobId, jobIdProblem } from '../core/job-id';
import { Command, Option } from 'commander';
import {
  cancelJob,
  getJobStatus,
  listJobs,
  parseRate,
  pauseJob,
  resumeJob,
  startImport,
  checkImportRequest,
  UsageError,
  withClient,
  type JobStatus,
  type SegflowClient,
} from '../client';
import { temporalSettings, workflowUiLink } from '../config';
import { runWorker } from '../worker';
import { runDev } from '../dev/dev-command';
import {
  action,
  exitCodeForState,
  formatTable,
  globalOptions,
  parseFraction,
  parseNonNegativeInt,
  parsePositiveInt,
  printJson,
  EXIT,
} from './common';
import { examples } from './examples';
import { followToEnd } from './follow';
import { createProgressPrinter, describeProgress } from './progress';
import { terminalText } from '../shared/safe-text';

export function registerImportCommands(program: Command): void {
  program
    .command('worker')
    .description('Run a segflow worker (all workflows and activities) on SEGFLOW_TASK_QUEUE')
    .addHelpText(
      'after',
      examples('SEGMENT_WRITE_KEY=... segflow worker', 'TEMPORAL_ADDRESS=temporal:7233 SEGFLOW_TASK_QUEUE=segflow segflow worker'),
    )
    .action(
      action(async () => {
        await runWorker();
      }),
    );

  program
    .command('dev')
    .description('Start a local Temporal dev server with its Web UI, a worker and a local Segment stand-in')
    .option('--import <file>', 'run one import of this file once everything is up')
    .option('--exit', 'with --import: stop everything once the import ends (exit code says how it ended)')
    .option('--db-file <path>', "keep the dev server's state in this SQLite file (default: in memory)")
    .option('--port <port>', 'Temporal gRPC port (default 7233, or a free one); the UI uses port + 1000', parsePositiveInt('--port'))
    .addHelpText('after', examples('segflow dev', 'segflow dev --import samples/events.csv --exit'))
    .action(
      action(async (opts: { import?: string; exit?: boolean; dbFile?: string; port?: number }, command: Command) => {
        const { json } = globalOptions(command);
        const printer = createProgressPrinter({ json: false, tty: Boolean(process.stderr.isTTY) });
        const final = await runDev({
          importFile: opts.import,
          exitAfterImport: Boolean(opts.exit),
          dbFile: opts.dbFile,
          port: opts.port,
          log: (line) => process.stderr.write(terminalText(line) + '\n'),
          onStatus: (status) => {
            if (!json) printer.update(status);
          },
        });
        printer.done();
        if (!final) return EXIT.ok;
        if (json) printJson(final);
        else process.stdout.write(formatStatus(final, workflowUiLink(temporalSettings(), String(final.jobId))));
        return exitCodeForState(String(final.state));
      }),
    );

  program
    .command('import')
    .description('Import a CSV or NDJSON file of historical events into a Segment source')
    .argument(
      '<file>',
      'input: a file (optionally .gz), a directory, a quoted glob, or with --manifest a list of files; paths the workers can read, or http(s) URLs',
    )
    .addOption(new Option('--format <format>', 'input format (default: from the extension)').choices(['csv', 'ndjson']))
    .option('--source <name>', 'target source name; the worker reads its write key from SEGMENT_WRITE_KEY[_<NAME>]', 'default')
    .option('--id <jobId>', 'job id (default: a digest of the file content and the source)')
    .option('--id-namespace <name>', 'namespace for derived messageIds (default: the source name)')
    .option('--force', 'start again even if this file was already imported into this source')
    .option('--dry-run', 'validate and plan only; send nothing')
    .option('--require-approval', 'validate first, then wait for `segflow approve` before sending')
    .option('--allow-missing-timestamp', 'accept rows without a timestamp (Segment then uses the time of receipt)')
    .option('--concurrency <n>', 'chunks in flight at once', parsePositiveInt('--concurrency'))
    .option('--batch-size <n>', 'max events per request (≤ 2500)', parsePositiveInt('--batch-size'))
    .option('--chunk-bytes <n>', 'target bytes of input per chunk activity', parsePositiveInt('--chunk-bytes'))
    .option('--max-rejects <n>', 'fail the job once more rows than this are rejected', parseNonNegativeInt('--max-rejects'))
    .option(
      '--max-reject-rate <fraction>',
      'fail the job once this fraction of rows is rejected (e.g. 0.05 or 5%)',
      parseFraction('--max-reject-rate'),
    )
    .option('--rate <n>', 'cap the job at n per second, across all workers', Number)
    .addOption(new Option('--rate-unit <unit>', 'what --rate counts').choices(['events', 'requests']).default('events'))
    .option('--report-dir <dir>', "where workers write reject reports (default: the worker's SEGFLOW_REPORT_DIR)")
    .option('--manifest', 'the argument is a manifest: a text file listing input paths (relative to it) or http(s) URLs, one per line')
    .option(
      '--ignore-column <name...>',
      'skip this CSV column / top-level NDJSON field (e.g. the reason column of `segflow rejects --reason-column`)',
    )
    .option('--wait', 'follow progress until the job ends; exit code says how it ended')
    .addHelpText(
      'after',
      examples(
        'segflow import events.csv --source web --wait',
        'segflow import events.ndjson --dry-run --json --wait',
        'segflow import big.csv --concurrency 8 --rate 1000 --max-reject-rate 1%',
      ),
    )
    .action(
      action(async (file: string, opts: Record<string, unknown>, command: Command) => {
        const { json } = globalOptions(command);
        const rate = opts.rate !== undefined ? parseRate(opts.rate) : undefined;
        const request = {
          file,
          format: opts.format as 'csv' | 'ndjson' | undefined,
          source: opts.source as string,
          jobId: opts.id as string | undefined,
          idNamespace: opts.idNamespace as string | undefined,
          force: Boolean(opts.force),
          dryRun: Boolean(opts.dryRun),
          requireApproval: Boolean(opts.requireApproval),
          allowMissingTimestamp: Boolean(opts.allowMissingTimestamp),
          concurrency: opts.concurrency as number | undefined,
          maxEventsPerBatch: opts.batchSize as number | undefined,
          targetChunkBytes: opts.chunkBytes as number | undefined,
          maxRejects: opts.maxRejects as number | undefined,
          maxRejectRate: opts.maxRejectRate as number | undefined,
          rateLimit: rate !== undefined ? { perSecond: rate, unit: opts.rateUnit as 'events' | 'requests' } : undefined,
          reportDir: opts.reportDir as string | undefined,
          ignoreColumns: opts.ignoreColumn as string[] | undefined,
          manifest: Boolean(opts.manifest),
        };
        // Local checks first: a missing file is reported as missing even when Temporal is unreachable.
        const checked = await checkImportRequest(request);
        return withClient(async (sc) => {
          const started = await startImport(sc, request, checked);
          if (!opts.wait) {
            if (json) printJson({ jobId: started.jobId, runId: started.runId, link: started.link });
            else process.stdout.write(terminalText(`Started import ${started.jobId}\n${started.link}\n`));
            return EXIT.ok;
          }
          if (!json) process.stderr.write(terminalText(`Started import ${started.jobId}\n${started.link}\n`));
          return follow(sc, started.jobId, Boolean(json));
        });
      }),
    );

  program
    .command('status')
    .description("Show a job's state and counts")
    .argument('<jobId>')
    .addHelpText('after', examples('segflow status import-default-3f2a9c0d1e2b4a5c', 'segflow status <id> --json | jq .events.sent'))
    .action(
      action(async (jobId: string, _opts: unknown, command: Command) => {
        checkJobIdArgument(jobId);
        return withClient(async (sc) => {
          const status = await getJobStatus(sc, jobId);
          if (globalOptions(command).json) printJson(status);
          else process.stdout.write(formatStatus(status, workflowUiLink(sc.settings, jobId)));
          return EXIT.ok;
        });
      }),
    );

  program
    .command('list')
    .description('Recent segflow jobs with their state (Temporal visibility)')
    .option('--state <state>', 'only jobs in this state (running, paused, awaiting_approval, completed, failed, ...)')
    .addOption(new Option('--kind <kind>', 'only jobs of this kind').choices(['import', 'workspace']))
    .option('--limit <n>', 'at most this many jobs', parsePositiveInt('--limit'), 20)
    .addHelpText('after', examples('segflow list', 'segflow list --state awaiting_approval', 'segflow list --kind import --json'))
    .action(
      action(async (opts: { state?: string; kind?: string; limit: number }, command: Command) =>
        withClient(async (sc) => {
          const jobs = await listJobs(sc, opts);
          if (globalOptions(command).json) printJson(jobs);
          else if (jobs.length === 0) process.stdout.write('No segflow jobs found.\n');
          else
            process.stdout.write(
              formatTable(
                jobs.map((j) => [j.jobId, j.kind, j.state, j.source ?? '', j.startTime.replace('T', ' ').slice(0, 19)]),
                ['JOB', 'KIND', 'STATE', 'SOURCE', 'STARTED'],
              ),
            );
          return EXIT.ok;
        }),
      ),
    );

  program
    .command('watch')
    .description('Follow a job until it ends (progress bar on a TTY, lines when piped, JSON lines with --json)')
    .argument('<jobId>')
    .addHelpText('after', examples('segflow watch import-default-3f2a9c0d1e2b4a5c', 'segflow watch <id> --json | jq -c .events'))
    .action(
      action(async (jobId: string, _opts: unknown, command: Command) => {
        checkJobIdArgument(jobId);
        return withClient((sc) => follow(sc, jobId, Boolean(globalOptions(command).json), true));
      }),
    );

  for (const [name, description, run] of [
    ['pause', 'Pause a job: chunks in flight finish, no new ones start', pauseJob],
    ['resume', 'Resume a paused job', resumeJob],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<jobId>')
      .addHelpText('after', examples(`segflow ${name} import-default-3f2a9c0d1e2b4a5c`, 'segflow list --state running   # find job ids'))
      .action(
        action(async (jobId: string, _opts: unknown, command: Command) => {
          checkJobIdArgument(jobId);
          return withClient(async (sc) => {
            await getJobStatus(sc, jobId); // a clear "no such job" instead of a raw RPC error
            await run(sc, jobId, process.env.USER);
            if (globalOptions(command).json) printJson({ jobId, requested: name });
            else process.stdout.write(`${name} requested for ${jobId}\n`);
            return EXIT.ok;
          });
        }),
      );
  }

  program
    .command('cancel')
    .description('Cancel a job through Temporal; events already sent stay sent, the reject report is written')
    .argument('<jobId>')
    .addHelpText('after', examples('segflow cancel import-default-3f2a9c0d1e2b4a5c'))
    .action(
      action(async (jobId: string, _opts: unknown, command: Command) => {
        checkJobIdArgument(jobId);
        return withClient(async (sc) => {
          await getJobStatus(sc, jobId);
          await cancelJob(sc, jobId);
          if (globalOptions(command).json) printJson({ jobId, requested: 'cancel' });
          else process.stdout.write(`cancellation requested for ${jobId}\n`);
          return EXIT.ok;
        });
      }),
    );
}

/**
 * Follows a job to its end. Humans get a repainted line on a TTY or a line per change when piped; with --json,
 * `watch` prints a JSON line per change (`jsonLines`) and `import --wait` only the final status object.
 */
function follow(sc: SegflowClient, jobId: string, json: boolean, jsonLines = false): Promise<number> {
  const printer = createProgressPrinter({ json: json && jsonLines, tty: Boolean(process.stderr.isTTY) });
  return followToEnd(sc, jobId, json, {
    update: (status) => {
      if (!json || jsonLines) printer.update(status);
    },
    done: () => printer.done(),
    text: (final) => formatStatus(final, workflowUiLink(sc.settings, jobId)),
    finalJson: !jsonLines,
  });
}

export function formatStatus(status: JobStatus, link: string): string {
  const lines = [describeProgress(status)];
  const rows = status.rows as { read: number; rejected: number; valid: number } | undefined;
  const events = status.events as { sent: number; wouldSend: number } | undefined;
  if (rows && events) {
    if (status.dryRun) lines.push(`rows read ${rows.read} = would send ${events.wouldSend} + rejected ${rows.rejected}`);
    else lines.push(`rows read ${rows.read} = events sent ${events.sent} + rows rejected ${rows.rejected}`);
  }
  const serverSet = status.serverSetFields as { rows: number; fields: string[] } | undefined;
  if (serverSet && serverSet.rows > 0) {
    lines.push(`${serverSet.rows} rows carried server-set fields (${serverSet.fields.join(', ')}): dropped, not sent`);
  }
  if (status.timeRange) {
    const range = status.timeRange as { min: string; max: string };
    lines.push(`event time range ${range.min} → ${range.max}`);
  }
  if (status.rejectReport && rows && rows.rejected > 0) lines.push(`reject report: ${String(status.rejectReport)}`);
  const delivery = status.delivery as { confirmed: boolean; reason?: string; sourceName?: string } | undefined;
  if (delivery && !delivery.confirmed) {
    lines.push(
      `delivery not confirmed: ${String(delivery.reason)}; Segment answers 200 even to an unknown write key, so check with \`segflow verify ${String(status.jobId)}\``,
    );
  } else if (delivery?.confirmed) lines.push(`write key confirmed: source ${String(delivery.sourceName)}`);
  retryLines(status, lines);
  if (status.error) lines.push(`error: ${String(status.error)}`);
  lines.push(link);
  // Errors, column names and retry failures come from the job, its input and Temporal: escaped, never obeyed.
  return terminalText(lines.join('\n')) + '\n';
}

/** Chunks Temporal is retrying, with their attempt and last failure (from the workflow's pending activities). */
function retryLines(status: JobStatus, lines: string[]): void {
  const retrying = (status.chunks as { retrying?: Array<{ activityId: string; attempt: number; lastFailure?: string }> } | undefined)?.retrying ?? [];
  for (const chunk of retrying)
    lines.push(`retrying activity ${chunk.activityId} (attempt ${chunk.attempt}): ${chunk.lastFailure ?? 'no failure message'}`);
}

/** Job ids are names (src/core/job-id.ts): refuse anything else before connecting. */
function checkJobIdArgument(jobId: string): void {
  if (!isValidJobId(jobId)) throw new UsageError(`${jobIdProblem(jobId)}.`);
}
