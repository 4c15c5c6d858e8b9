/**
 * Talking to Temporal from the CLI: connect, start jobs, read their status, send them signals.
 * Only ids, counts and file *references* cross this boundary; never rows, never secrets.
 */
import { markdownText, plainText } from './shared/safe-text';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, resolve } from 'node:path';
import { CodecConfigError } from './codec/encryption-codec';
import { canonicalSourceName, SOURCE_NAME_PATTERN, temporalSettings, workflowUiLink, type TemporalSettings } from './config';
import { clientConnectionOptions, dataConverterFromEnv, TemporalConfigError } from './temporal-connection';
import { SEGMENT_LIMITS } from './shared/limits';
import { SEGFLOW_KIND, SEGFLOW_SEARCH_ATTRIBUTES, SEGFLOW_SOURCE, SEGFLOW_STATE } from './contracts/search-attributes';
import type { InputFormat } from './core/types';
import { displayLocation, isHttpLocation } from './shared/location';
import { isValidJobId, jobIdProblem } from './core/job-id';
import { openByteSource } from './io/open-byte-source';
import { expandInputSet, formatOfEntries, InputSetError, inputSetKind, type InputEntry, type InputSetKind } from './io/input-set';
import { digestInput, inputSetDigest } from './io/staging';
import { pauseSignal, resumeSignal, statusQuery, type ChunkRetry, type ImportOptions, type ImportStatus } from './contracts/import-job';
import type { JobState } from './contracts/job-state';
import { rootCause } from './contracts/failures';
import { importJob } from './workflows/import-workflow';

/** A user mistake with a one-sentence fix; the CLI prints it without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface SegflowClient {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<SegflowClient> {
  let settings: TemporalSettings;
  let dataConverter;
  try {
    settings = temporalSettings(env);
    // With SEGFLOW_CODEC_KEY set, payloads are encrypted: the CLI needs the key too, to read what it shows.
    dataConverter = dataConverterFromEnv(env);
  } catch (error) {
    if (error instanceof TemporalConfigError || error instanceof CodecConfigError) throw new UsageError(error.message);
    throw error;
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...clientConnectionOptions(settings.profile!), connectTimeout: 5000 });
  } catch (error) {
    throw new UsageError(
      `Cannot reach Temporal at ${settings.address} (${(error as Error).message}); start one with \`npm run dev\` (segflow dev) or set TEMPORAL_ADDRESS.`,
    );
  }
  return {
    client: new Client({ connection, namespace: settings.namespace, dataConverter }),
    settings,
    close: () => connection.close(),
  };
}

export const IMPORT_DEFAULTS = {
  concurrency: 4,
  maxEventsPerBatch: SEGMENT_LIMITS.maxEventsPerBatch,
  maxBatchBytes: SEGMENT_LIMITS.maxBatchBytes,
  targetChunkBytes: 8 * 1024 * 1024,
  maxRecordsPerChunk: 50_000,
  chunksPerRun: 400,
  approvalTimeoutMs: 24 * 60 * 60 * 1000,
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
/** A chunk heartbeats every third of its heartbeat timeout, at most every second; below this it cannot keep up. */
const MIN_HEARTBEAT_TIMEOUT_MS = 2000;

export interface ImportRequest extends Partial<Omit<ImportOptions, 'file' | 'format' | 'searchAttributes' | 'inputSet'>> {
  file: string;
  /** `file` is a manifest: a text file listing input paths (relative to it) or URLs, one per line. */
  manifest?: boolean;
  format?: InputFormat;
  jobId?: string;
  force?: boolean;
}

export function detectFormat(file: string, explicit?: string): InputFormat {
  if (explicit) {
    if (explicit === 'csv' || explicit === 'ndjson') return explicit;
    throw new UsageError(`Unknown --format "${explicit}"; use csv or ndjson.`);
  }
  // A URL's query (a presigned signature) is not part of its name; `.gz` names its compression, not its format.
  const name = (isHttpLocation(file) ? new URL(file).pathname : file).replace(/\.gz$/i, '');
  const ext = extname(name).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  throw new UsageError(`Cannot tell the format of ${displayLocation(file)} from its extension; pass --format csv or --format ndjson.`);
}

/**
 * The default job id is a digest of the file's content and its target, so starting the same import twice finds
 * the first one instead of sending everything again.
 */
export async function defaultJobId(file: string, source: string, idNamespace: string, dryRun: boolean): Promise<string> {
  const hash = createHash('sha256');
  const input = openByteSource(file);
  try {
    for await (const chunk of input.openRange(0, await input.size())) hash.update(chunk);
  } catch (error) {
    throw new UsageError(`Cannot read ${input.description} to compute the job id: ${(error as Error).message}`);
  }
  hash.update(`\0${source}\0${idNamespace}`);
  return `${dryRun ? 'dryrun' : 'import'}-${source}-${hash.digest('hex').slice(0, 16)}`;
}

/** The job id of a staged input: a digest of every file's content (and name), and the target. */
function setJobId(digest: string, source: string, idNamespace: string, dryRun: boolean): string {
  const hash = createHash('sha256').update(`${digest}\0${source}\0${idNamespace}`).digest('hex');
  return `${dryRun ? 'dryrun' : 'import'}-${source}-${hash.slice(0, 16)}`;
}

async function resolveInputSet(
  file: string,
  request: ImportRequest,
): Promise<{ kind: InputSetKind | 'file'; format: InputFormat; digest: string; files: number } | undefined> {
  const kind = await inputSetKind(file, request.manifest ?? false);
  let entries: InputEntry[];
  if (kind !== undefined) {
    const explicit = request.format ? detectFormat(file, request.format) : undefined;
    try {
      entries = await expandInputSet(kind, file, explicit);
    } catch (error) {
      if (error instanceof InputSetError) throw new UsageError(error.message);
      throw error;
    }
  } else {
    const name = isHttpLocation(file) ? new URL(file).pathname : file;
    if (!/\.gz$/i.test(name)) return undefined;
    entries = [{ location: file, name: basename(name), gzip: true }];
  }
  const format = request.format ? detectFormat(file, request.format) : kind ? formatOfEntries(entries) : detectFormat(file);
  const digests: Array<{ name: string; sha256: string }> = [];
  for (const entry of entries) {
    try {
      digests.push({ name: entry.name, sha256: await digestInput(entry.location) });
    } catch (error) {
      throw new UsageError(`Cannot read ${displayLocation(entry.location)} to compute the job id: ${(error as Error).message}`);
    }
  }
  return { kind: kind ?? 'file', format, digest: inputSetDigest(digests), files: entries.length };
}

let searchAttributesKnown: boolean | undefined;
/** Whether segflow's search attributes are registered; the workflow only upserts them when they are. */
export async function hasSegflowSearchAttributes(sc: SegflowClient): Promise<boolean> {
  if (searchAttributesKnown !== undefined) return searchAttributesKnown;
  try {
    const response = await sc.client.connection.operatorService.listSearchAttributes({ namespace: sc.settings.namespace });
    const custom = response.customAttributes ?? {};
    searchAttributesKnown = SEGFLOW_SEARCH_ATTRIBUTES.every((key) => key.name in custom);
  } catch {
    searchAttributesKnown = false; // Temporal Cloud API keys may not list attributes: run without them.
  }
  return searchAttributesKnown;
}

export interface CheckedImportRequest {
  file: string;
  format: InputFormat;
  source: string;
  idNamespace: string;
  dryRun: boolean;
  jobId: string;
  reportDir?: string;
  set?: { kind: InputSetKind | 'file'; format: InputFormat; digest: string; files: number };
}

/**
 * Everything about an import that can be checked without Temporal: the input exists (local files), the format,
 * the source name (normalised), the job id (a name, not a path) and --report-dir (a sub-path of the worker's
 * SEGFLOW_REPORT_DIR). Run before connecting, so `segflow import missing.csv` says the file is missing.
 */
export async function checkImportRequest(request: ImportRequest): Promise<CheckedImportRequest> {
  const file = isHttpLocation(request.file) ? request.file : resolve(request.file);
  const rawSource = request.source ?? 'default';
  if (!SOURCE_NAME_PATTERN.test(rawSource)) throw new UsageError(`Invalid --source "${rawSource.slice(0, 64)}": use letters, digits, "-" and "_".`);
  // web-app, web_app and Web-App read one write key: one spelling for job ids and messageId namespaces.
  const source = canonicalSourceName(rawSource);
  if (request.jobId !== undefined && !isValidJobId(request.jobId)) throw new UsageError(`--id: ${jobIdProblem(request.jobId)}.`);
  if (request.reportDir !== undefined) {
    const dir = request.reportDir;
    if (isAbsolute(dir) || dir.split(/[\\/]/).includes('..') || dir.length > 500) {
      throw new UsageError(`--report-dir is a sub-directory of the workers' SEGFLOW_REPORT_DIR: give a relative path without "..", not "${dir.slice(0, 80)}".`);
    }
  }
  // A directory, a glob, a manifest or a .gz file is staged by the workers first (docs/compressed-and-many-files.md).
  const set = await resolveInputSet(file, request);
  const format = set ? set.format : detectFormat(file, request.format);
  if (!set && !isHttpLocation(file)) {
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
    } catch {
      throw new UsageError(`Input file ${file} does not exist or is not a file.`);
    }
  }
  const idNamespace = request.idNamespace ?? source;
  const dryRun = request.dryRun ?? false;
  const jobId = request.jobId ?? (set ? setJobId(set.digest, source, idNamespace, dryRun) : await defaultJobId(file, source, idNamespace, dryRun));
  return {
    file,
    format,
    source,
    idNamespace,
    dryRun,
    jobId,
    ...(request.reportDir !== undefined ? { reportDir: request.reportDir } : {}),
    ...(set ? { set } : {}),
  };
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
  validateOptions(options);
  fitChunksToRate(options);

  if (set) options.inputSet = { kind: set.kind, digest: set.digest, files: set.files };

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
      staticSummary: `import ${plainText(basename(isHttpLocation(file) ? new URL(file).pathname : file), 200)} → source ${source}${dryRun ? ' (dry run)' : ''}`.slice(0, 300),
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
          'see `segflow status ' + jobId + '`, or pass --force to send it again on purpose.',
      );
    }
    throw error;
  }
}

function validateOptions(options: ImportOptions): void {
  const positive: Array<[string, number]> = [
    ['--concurrency', options.concurrency],
    ['--batch-size', options.maxEventsPerBatch],
    ['--chunk-bytes', options.targetChunkBytes],
  ];
  for (const [flag, value] of positive) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer, got ${value}.`);
  }
  if (options.concurrency > 200) throw new UsageError('--concurrency above 200 would crowd Temporal with pending activities; use at most 200.');
  if (options.rateLimit && !(options.rateLimit.perSecond > 0)) throw new UsageError('--rate must be a positive number.');
  for (const column of options.ignoreColumns ?? []) {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(column)) throw new UsageError(`--ignore-column "${column.slice(0, 100)}" is not a column name (letters, digits, _ . : -).`);
  }
  if (options.maxRejectRate !== undefined && !(options.maxRejectRate >= 0 && options.maxRejectRate <= 1)) {
    throw new UsageError('--max-reject-rate must be a fraction between 0 and 1 (e.g. 0.05).');
  }
}

/**
 * Chunks sized to the rate: at its smallest share a chunk must send its records in MAX_CHUNK_SECONDS_AT_RATE, or its
 * activity could run out of time and retry from its last checkpoint again and again. Refuses a cap so low that not
 * even one record per chunk fits.
 */
function fitChunksToRate(options: ImportOptions): void {
  if (options.heartbeatTimeoutMs < MIN_HEARTBEAT_TIMEOUT_MS) {
    throw new UsageError(`heartbeat timeout ${options.heartbeatTimeoutMs} ms is too short to heartbeat in time; use at least ${MIN_HEARTBEAT_TIMEOUT_MS} ms.`);
  }
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
    return description.status.name === 'RUNNING' ? 'still running' : `${description.status.name.toLowerCase()} ${description.closeTime?.toISOString() ?? ''}`.trim();
  } catch {
    return 'known to Temporal';
  }
}

/** Generic status of any segflow job: imports and workspace jobs both answer the `status` query. */
export type JobStatus = { jobId: string; kind: string; state: JobState | string; [key: string]: unknown };

export async function getJobStatus(sc: SegflowClient, jobId: string): Promise<JobStatus> {
  const handle: WorkflowHandle = sc.client.workflow.getHandle(jobId);
  let description;
  try {
    description = await handle.describe();
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') throw new UsageError(`No segflow job with id ${jobId}; list jobs with \`segflow list\`.`);
    throw error;
  }
  const closed = description.status.name;
  if (closed === 'RUNNING') {
    const status = (await handle.query(statusQuery)) as unknown as JobStatus;
    const retrying = chunkRetries(description.raw.pendingActivities ?? []);
    if (retrying.length > 0 && status.chunks && typeof status.chunks === 'object') status.chunks = { ...(status.chunks as object), retrying };
    return status;
  }
  if (closed === 'COMPLETED') return (await handle.result()) as JobStatus;
  if (closed === 'FAILED') {
    try {
      await handle.result();
    } catch (error) {
      if (error instanceof WorkflowFailedError) {
        const details = (error.cause as { details?: unknown[] } | undefined)?.details;
        const snapshot = details?.[0] as JobStatus | undefined;
        const message = innermostMessage(error);
        if (snapshot && typeof snapshot === 'object') return { ...snapshot, state: 'failed', error: message };
        return { jobId, kind: kindOf(description.type), state: 'failed', error: message };
      }
      throw error;
    }
  }
  // Cancelled, terminated or timed out: a worker can still answer the query by replaying the history.
  const state = stateOfClosed(closed);
  try {
    const snapshot = (await handle.query(statusQuery)) as unknown as JobStatus;
    return { ...snapshot, state };
  } catch {
    return { jobId, kind: kindOf(description.type), state, error: `workflow ${closed.toLowerCase()}` };
  }
}

/** The state of a workflow Temporal closed, whatever its last SegflowState said (a terminated job never updated it). */
function stateOfClosed(executionStatus: string): string {
  switch (executionStatus) {
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed_out';
    default:
      return 'failed';
  }
}

/** Chunk activities that failed at least once, from the workflow's pending activities (what Temporal is retrying). */
function chunkRetries(pending: Array<{ activityId?: string | null; attempt?: number | null; lastFailure?: { message?: string | null; cause?: unknown } | null; nextAttemptScheduleTime?: { seconds?: unknown } | null; activityType?: { name?: string | null } | null }>): ChunkRetry[] {
  const retries: ChunkRetry[] = [];
  for (const activity of pending) {
    if (activity.activityType?.name !== 'processChunk' || !activity.attempt || activity.attempt < 2) continue;
    const failure = rootCause(activity.lastFailure) as { message?: string | null } | null | undefined;
    const seconds = Number(activity.nextAttemptScheduleTime?.seconds ?? 0);
    retries.push({
      activityId: String(activity.activityId ?? ''),
      attempt: activity.attempt,
      ...(failure?.message ? { lastFailure: failure.message } : {}),
      ...(seconds > 0 ? { nextAttemptAt: new Date(seconds * 1000).toISOString() } : {}),
    });
  }
  return retries;
}

/** The SDK's names for execution statuses (`WorkflowExecutionStatusName`), from the wire enum. */
function executionStatusName(code: temporal.api.enums.v1.WorkflowExecutionStatus | null | undefined): string {
  const Status = temporal.api.enums.v1.WorkflowExecutionStatus;
  switch (code) {
    case Status.WORKFLOW_EXECUTION_STATUS_RUNNING:
      return 'RUNNING';
    case Status.WORKFLOW_EXECUTION_STATUS_COMPLETED:
      return 'COMPLETED';
    case Status.WORKFLOW_EXECUTION_STATUS_FAILED:
      return 'FAILED';
    case Status.WORKFLOW_EXECUTION_STATUS_CANCELED:
      return 'CANCELLED';
    case Status.WORKFLOW_EXECUTION_STATUS_TERMINATED:
      return 'TERMINATED';
    case Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
      return 'CONTINUED_AS_NEW';
    case Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
      return 'TIMED_OUT';
    default:
      return 'UNKNOWN';
  }
}

/** Keyword search attributes are JSON strings in plain payloads; anything else (or unreadable) is left out. */
function keywordAttributes(fields: Record<string, temporal.api.common.v1.IPayload> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, payload] of Object.entries(fields ?? {})) {
    try {
      const value: unknown = JSON.parse(Buffer.from(payload.data ?? []).toString('utf8'));
      if (typeof value === 'string') out[name] = value;
      else if (Array.isArray(value) && typeof value[0] === 'string') out[name] = value[0];
    } catch {
      // Not JSON: not one of segflow's keyword attributes.
    }
  }
  return out;
}

function timestampToIso(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

function kindOf(workflowType: string): string {
  return workflowType === 'importJob' ? 'import' : workflowType === 'workspaceJob' ? 'workspace' : workflowType;
}

function innermostMessage(error: unknown): string {
  return (rootCause(error) as { message?: string }).message ?? String(error);
}

export async function pauseJob(sc: SegflowClient, jobId: string, by?: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).signal(pauseSignal, { by });
}

export async function resumeJob(sc: SegflowClient, jobId: string, by?: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).signal(resumeSignal, { by });
}

export async function cancelJob(sc: SegflowClient, jobId: string): Promise<void> {
  await sc.client.workflow.getHandle(jobId).cancel();
}

export const TERMINAL_STATES = new Set(['completed', 'failed', 'cancelled', 'rejected', 'expired', 'terminated', 'timed_out']);

/** How long `followJob` lets status queries fail before it looks for the reason. */
export const DIAGNOSE_AFTER_MS = 10_000;

/**
 * Polls until the job ends, calling `onUpdate` with each status; returns the final one. When the status query keeps
 * failing it says why (`onProblem`): no worker polls the task queue (keeps waiting: starting one helps), or the
 * workflow task itself fails, e.g. a non-determinism error after a deploy (stops: waiting cannot help).
 */
export async function followJob(
  sc: SegflowClient,
  jobId: string,
  onUpdate: (status: JobStatus) => void,
  intervalMs = 1000,
  onProblem: (problem: string) => void = (problem) => process.stderr.write(`segflow: ${problem}\n`),
  diagnoseAfterMs = DIAGNOSE_AFTER_MS,
): Promise<JobStatus> {
  let failingSince: number | undefined;
  let lastProblem: string | undefined;
  for (;;) {
    let status: JobStatus;
    try {
      // A query no worker picks up can hang for a minute; bound it so the diagnosis below comes in time.
      status = await sc.client.withDeadline(Date.now() + Math.max(diagnoseAfterMs, 5000), () => getJobStatus(sc, jobId));
      failingSince = undefined;
      lastProblem = undefined;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      // A query needs a worker; while one restarts, keep waiting rather than giving up on the job.
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= diagnoseAfterMs) {
        const diagnosis = await diagnoseUnansweredJob(sc, jobId, error);
        if (diagnosis.hopeless) throw new UsageError(diagnosis.problem);
        if (diagnosis.problem !== lastProblem) onProblem(diagnosis.problem);
        lastProblem = diagnosis.problem;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
      continue;
    }
    onUpdate(status);
    if (TERMINAL_STATES.has(status.state)) return status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Why a running job does not answer its status query. A workflow task that keeps failing (its history shows the error)
 * will not heal by waiting; no poller on the task queue will, once a worker starts.
 */
export async function diagnoseUnansweredJob(sc: SegflowClient, jobId: string, queryError: unknown): Promise<{ problem: string; hopeless: boolean }> {
  const handle = sc.client.workflow.getHandle(jobId);
  try {
    const description = await handle.describe();
    const taskQueue = description.taskQueue;
    const pendingTask = description.raw.pendingWorkflowTask;
    if (pendingTask && (pendingTask.attempt ?? 0) > 1) {
      const history = await handle.fetchHistory();
      const failed = [...(history.events ?? [])].reverse().find((event) => event.workflowTaskFailedEventAttributes);
      const failure = failed?.workflowTaskFailedEventAttributes?.failure;
      const message = failure?.message ?? 'no message';
      return {
        problem: `job ${jobId}: its workflow task keeps failing (attempt ${pendingTask.attempt}): ${message.split('\n')[0]!.slice(0, 500)}. Waiting will not help: fix the worker (a non-determinism error means the deployed workflow code does not match the job's history) and watch it again.`,
        hopeless: true,
      };
    }
    const queue = await sc.client.workflowService.describeTaskQueue({
      namespace: sc.settings.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((queue.pollers ?? []).length === 0) {
      return {
        problem: `job ${jobId} is waiting for a worker: nothing polls task queue "${taskQueue}" on ${sc.settings.address} (start \`segflow worker\` with SEGFLOW_TASK_QUEUE=${taskQueue}); still waiting.`,
        hopeless: false,
      };
    }
  } catch {
    // Describing failed too: report the query's own error below.
  }
  return { problem: `job ${jobId} does not answer its status query (${(queryError as Error).message ?? String(queryError)}); still waiting.`, hopeless: false };
}

export type { ImportStatus };

export interface JobSummary {
  jobId: string;
  kind: string;
  state: string;
  source?: string;
  status: string;
  startTime: string;
  closeTime?: string;
}

/**
 * Recent segflow jobs from Temporal visibility, newest first. Uses the Segflow* search attributes when they are
 * registered (filters by state and kind run on the server); otherwise filters by workflow type.
 */
export async function listJobs(sc: SegflowClient, filter: { state?: string; kind?: string; limit?: number } = {}): Promise<JobSummary[]> {
  const withAttributes = await hasSegflowSearchAttributes(sc);
  const clauses: string[] = [];
  const workflowTypes = filter.kind === 'import' ? ['importJob'] : filter.kind === 'workspace' ? ['workspaceJob'] : ['importJob', 'workspaceJob'];
  clauses.push(`(${workflowTypes.map((t) => `WorkflowType = '${t}'`).join(' OR ')})`);
  const closedByTemporal: Record<string, string> = { terminated: 'Terminated', timed_out: 'TimedOut' };
  if (filter.state && closedByTemporal[filter.state]) clauses.push(`ExecutionStatus = '${closedByTemporal[filter.state]}'`);
  else if (filter.state && withAttributes) clauses.push(`SegflowState = '${filter.state.replace(/'/g, '')}'`);
  const jobs: JobSummary[] = [];
  const limit = filter.limit ?? 20;
  // The raw visibility API, not `client.workflow.list()`: the SDK's list decodes every execution's memo through the
  // data converter, so one job started with payload encryption (or another codec key) would make the whole listing
  // fail for a client without that key. A listing needs only ids, statuses and search attributes, which no codec
  // touches (docs/temporal-notes.md).
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await sc.client.workflowService.listWorkflowExecutions({
      namespace: sc.client.options.namespace,
      query: clauses.join(' AND '),
      pageSize: Math.min(limit * 2, 100),
      nextPageToken,
    });
    for (const raw of page.executions ?? []) {
      const statusName = executionStatusName(raw.status);
      // An earlier run of a continue-as-new chain: its latest run is listed on its own.
      if (statusName === 'CONTINUED_AS_NEW') continue;
      const attributes = keywordAttributes(raw.searchAttributes?.indexedFields);
      let state = attributes[SEGFLOW_STATE.name] ?? statusName.toLowerCase();
      // A job Temporal closed (terminated, timed out) never updated SegflowState: derive it from the execution status.
      if (statusName !== 'RUNNING' && !TERMINAL_STATES.has(state)) state = stateOfClosed(statusName);
      if (filter.state && state !== filter.state) continue;
      const closeTime = timestampToIso(raw.closeTime);
      jobs.push({
        jobId: raw.execution?.workflowId ?? '',
        kind: attributes[SEGFLOW_KIND.name] ?? kindOf(raw.type?.name ?? ''),
        state,
        source: attributes[SEGFLOW_SOURCE.name],
        status: statusName,
        startTime: timestampToIso(raw.startTime) ?? '',
        ...(closeTime ? { closeTime } : {}),
      });
      if (jobs.length >= limit) break;
    }
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken !== undefined && jobs.length < limit);
  return jobs;
}
