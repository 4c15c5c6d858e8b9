/**
 * Starting an import: the options a job runs with (defaults, limits, chunk size under a rate cap) and the start
 * itself, which refuses to send the same input into the same source twice unless asked to (--force).
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { basename } from 'node:path';
import { workflowUiLink } from '../config';
import { SEGMENT_LIMITS } from '../shared/limits';
import { displayLocation } from '../shared/location';
import { isValidRate } from '../shared/pacer';
import { SEGFLOW_KIND, SEGFLOW_SOURCE, SEGFLOW_STATE } from '../contracts/search-attributes';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../contracts/defaults';
import type { ImportOptions } from '../contracts/import-job';
import { checkInput, COLUMN_NAME_PATTERN, IMPORT_LIMITS, importOptionsSchema } from '../contracts/job-input';
import { importJob } from '../workflows/import-workflow';
import { markdownText, plainText } from '../shared/safe-text';
import { hasSegflowSearchAttributes, type SegflowClient } from './connection';
import { locationName } from '../shared/location';
import { checkImportRequest, type CheckedImportRequest, type ImportRequest } from './import-request';
import { UsageError } from './usage-error';

export const IMPORT_DEFAULTS = {
  concurrency: 4,
  maxEventsPerBatch: SEGMENT_LIMITS.maxEventsPerBatch,
  maxBatchBytes: SEGMENT_LIMITS.maxBatchBytes,
  targetChunkBytes: 8 * 1024 * 1024,
  maxRecordsPerChunk: 50_000,
  chunksPerRun: 400,
  approvalTimeoutMs: DEFAULT_APPROVAL_TIMEOUT_MS,
  // How soon a dead worker's chunk is retried: a SIGKILLed worker's chunks resume within ~11 s (this plus the
  // first 1 s retry). Heartbeats reach the server every 0.8 x this (the SDK's throttle), which is what they cost
  // in Temporal actions (bench/README.md); the re-send bound comes from the durable checkpoint, not from them.
  heartbeatTimeoutMs: 10_000,
} as const;

/**
 * Under a rate cap a chunk must finish well inside its activity's 6-hour start-to-close timeout even at its smallest
 * share (cap ÷ concurrency): chunks are cut to at most this much sending time.
 */
const MAX_CHUNK_SECONDS_AT_RATE = 3600;

/**
 * `--rate` as the CLI reads it and as startImport checks it: the pacer's rule (src/shared/pacer.ts, a positive
 * finite number per second), with one sentence for a person.
 */
export function parseRate(value: unknown): number {
  const perSecond = typeof value === 'number' ? value : Number(value);
  if (!isValidRate(perSecond)) throw new UsageError('--rate must be a positive number.');
  return perSecond;
}

export async function startImport(
  sc: SegflowClient,
  request: ImportRequest,
  /** checkImportRequest's answer when the caller already has it (the CLI checks before connecting). */
  checkedAlready?: CheckedImportRequest,
): Promise<{ jobId: string; runId: string; link: string; options: ImportOptions }> {
  const checked = checkedAlready ?? (await checkImportRequest(request));
  const { file, format, source, idNamespace, dryRun, set } = checked;
  const options: ImportOptions = {
    file,
    format,
    source,
    idNamespace,
    dryRun,
    requireApproval: request.requireApproval ?? false,
    allowMissingTimestamp: request.allowMissingTimestamp ?? false,
    concurrency: request.concurrency ?? IMPORT_DEFAULTS.concurrency,
    maxEventsPerBatch: Math.min(request.maxEventsPerBatch ?? IMPORT_DEFAULTS.maxEventsPerBatch, SEGMENT_LIMITS.maxEventsPerBatch),
    maxBatchBytes: Math.min(request.maxBatchBytes ?? IMPORT_DEFAULTS.maxBatchBytes, SEGMENT_LIMITS.maxBatchBytes),
    targetChunkBytes: request.targetChunkBytes ?? IMPORT_DEFAULTS.targetChunkBytes,
    maxRecordsPerChunk: request.maxRecordsPerChunk ?? IMPORT_DEFAULTS.maxRecordsPerChunk,
    maxRejects: request.maxRejects,
    maxRejectRate: request.maxRejectRate,
    rateLimit: request.rateLimit,
    reportDir: checked.reportDir,
    ...(request.ignoreColumns?.length ? { ignoreColumns: request.ignoreColumns } : {}),
    chunksPerRun: request.chunksPerRun ?? IMPORT_DEFAULTS.chunksPerRun,
    approvalTimeoutMs: request.approvalTimeoutMs ?? IMPORT_DEFAULTS.approvalTimeoutMs,
    heartbeatTimeoutMs: request.heartbeatTimeoutMs ?? IMPORT_DEFAULTS.heartbeatTimeoutMs,
    searchAttributes: await hasSegflowSearchAttributes(sc),
  };
  if (set) options.inputSet = { kind: set.kind, digest: set.digest, files: set.files };
  validateImportOptions(options);
  fitChunksToRate(options);

  let jobId = checked.jobId;
  // --force re-sends on purpose under a new id; messageIds stay the same, so Segment still drops repeats within ~24 h.
  if (request.force) jobId = `${jobId}-${Date.now().toString(36)}`;

  const start = (reuse: 'ALLOW_DUPLICATE_FAILED_ONLY' | 'ALLOW_DUPLICATE') =>
    sc.client.workflow.start(importJob, {
      taskQueue: sc.settings.taskQueue,
      workflowId: jobId,
      args: [{ jobId, options }],
      // Refuse a second run of the same id while one runs, or after one completed; a failed or cancelled
      // import may be started again (its messageIds are the same, so nothing is duplicated downstream).
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: reuse,
      // File names are user text: shown through the one sanitiser (src/shared/safe-text.ts), never raw markdown.
      staticSummary: `import ${plainText(basename(locationName(file)), 200)} → source ${source}${dryRun ? ' (dry run)' : ''}`.slice(0, 300),
      staticDetails: [
        `**Import** ${markdownText(displayLocation(file), 1000)} (${format}) into source ${markdownText(source, 100)}`,
        '',
        `concurrency ${options.concurrency} · batch ≤ ${options.maxEventsPerBatch} events / ${options.maxBatchBytes} bytes` +
          (options.rateLimit ? ` · rate cap ${options.rateLimit.perSecond} ${options.rateLimit.unit}/s` : '') +
          (dryRun ? ' · dry run' : '') +
          (options.requireApproval ? ' · requires approval' : ''),
      ].join('\n'),
      ...(options.searchAttributes
        ? {
            typedSearchAttributes: [
              { key: SEGFLOW_KIND, value: 'import' },
              { key: SEGFLOW_STATE, value: 'planning' },
              { key: SEGFLOW_SOURCE, value: source },
            ],
          }
        : {}),
    });
  try {
    let handle;
    try {
      handle = await start('ALLOW_DUPLICATE_FAILED_ONLY');
    } catch (error) {
      // A rejected or expired import closed "completed" without sending anything: it must not block a new run.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError) || !(await closedWithoutSending(sc, jobId))) throw error;
      handle = await start('ALLOW_DUPLICATE');
    }
    return { jobId, runId: handle.firstExecutionRunId, link: workflowUiLink(sc.settings, jobId), options };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      const existing = await describeState(sc, jobId);
      throw new UsageError(
        `This file was already imported into source "${source}" as job ${jobId} (${existing}); ` +
          'see `segflow status ' +
          jobId +
          '`, or pass --force to send it again on purpose.',
      );
    }
    throw error;
  }
}

/** The options a job would start with, checked; the flag names are the CLI's, since that is who gets the sentence. */
export function validateImportOptions(options: ImportOptions): void {
  const positive: Array<[string, number]> = [
    ['--concurrency', options.concurrency],
    ['--batch-size', options.maxEventsPerBatch],
    ['--chunk-bytes', options.targetChunkBytes],
  ];
  for (const [flag, value] of positive) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer, got ${value}.`);
  }
  const maxConcurrency = IMPORT_LIMITS.maxConcurrency;
  if (options.concurrency > maxConcurrency) {
    throw new UsageError(`--concurrency above ${maxConcurrency} would crowd Temporal with pending activities; use at most ${maxConcurrency}.`);
  }
  if (options.rateLimit) parseRate(options.rateLimit.perSecond);
  for (const column of options.ignoreColumns ?? []) {
    if (!COLUMN_NAME_PATTERN.test(column))
      throw new UsageError(`--ignore-column "${column.slice(0, 100)}" is not a column name (letters, digits, _ . : -).`);
  }
  if (options.maxRejectRate !== undefined && !(options.maxRejectRate >= 0 && options.maxRejectRate <= 1)) {
    throw new UsageError('--max-reject-rate must be a fraction between 0 and 1 (e.g. 0.05).');
  }
  const minHeartbeat = IMPORT_LIMITS.minHeartbeatTimeoutMs;
  if (options.heartbeatTimeoutMs < minHeartbeat) {
    throw new UsageError(`heartbeat timeout ${options.heartbeatTimeoutMs} ms is too short to heartbeat in time; use at least ${minHeartbeat} ms.`);
  }
  // Anything else the worker would refuse (src/contracts/job-input.ts) is refused here, before a job starts.
  const problem = checkInput(importOptionsSchema, 'import options', options);
  if (problem !== undefined) throw new UsageError(problem);
}

/**
 * Chunks sized to the rate: at its smallest share a chunk must send its records in MAX_CHUNK_SECONDS_AT_RATE, or its
 * activity could run out of time and retry from its last checkpoint again and again. Refuses a cap so low that not
 * even one record per chunk fits.
 */
function fitChunksToRate(options: ImportOptions): void {
  if (!options.rateLimit) return;
  const { perSecond, unit } = options.rateLimit;
  const eventsPerSecondPerChunk = (perSecond / options.concurrency) * (unit === 'requests' ? options.maxEventsPerBatch : 1);
  const records = Math.floor(eventsPerSecondPerChunk * MAX_CHUNK_SECONDS_AT_RATE);
  if (records < 1) {
    throw new UsageError(
      `--rate ${perSecond} ${unit}/s over --concurrency ${options.concurrency} is too slow for a chunk to finish in time; raise --rate or lower --concurrency.`,
    );
  }
  options.maxRecordsPerChunk = Math.min(options.maxRecordsPerChunk, records);
}

/** Whether a closed job with this id ended rejected or expired, i.e. sent nothing and may simply start again. */
async function closedWithoutSending(sc: SegflowClient, jobId: string): Promise<boolean> {
  try {
    const handle = sc.client.workflow.getHandle(jobId);
    if ((await handle.describe()).status.name !== 'COMPLETED') return false;
    const result = (await handle.result()) as { state?: string } | undefined;
    return result?.state === 'rejected' || result?.state === 'expired';
  } catch {
    return false;
  }
}

async function describeState(sc: SegflowClient, jobId: string): Promise<string> {
  try {
    const description = await sc.client.workflow.getHandle(jobId).describe();
    return description.status.name === 'RUNNING'
      ? 'still running'
      : `${description.status.name.toLowerCase()} ${description.closeTime?.toISOString() ?? ''}`.trim();
  } catch {
    return 'known to Temporal';
  }
}
