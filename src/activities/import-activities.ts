/**
 * Import activities: thin adapters from the pure core (row conversion, batching, retry policy) to files and
 * HTTP. They take references (file, byte range) and return counts; event data never leaves the worker.
 *
 * Every client with I/O beyond the worker's own report directory comes in through `ImportActivityDeps`: the worker
 * passes the real ones (src/worker.ts), tests pass fakes (test/unit/chunk-sender.test.ts). The chunk algorithm itself
 * is src/activities/chunk-sender.ts.
 */
import { activityInfo, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { basename } from 'node:path';
import { rm, stat } from 'node:fs/promises';
import { resolveWriteKey, MissingSecretError, requiredApprovals, writeKeyVariable } from '../config';
import { compileCsvHeader } from '../core/csv-mapping';
import { contentHash } from '../core/plan-hash';
import { displayLocation, locationName } from '../shared/location';
import type { RejectedRow } from '../core/types';
import { planChunks as planFileChunks, readCsvHeader, initialCursor } from '../io/chunk-planner';
import { expandInputSet, InputSetError, type InputEntry } from '../io/input-set';
import { locateLine, readStagedMap, stageInputs, StagingError, type StageCheckpoint } from '../io/staging';
import { mergeRejectReports, removeChunkReports, jobReportDir, writeReportInputInfo } from '../io/reject-report';
import type { PublicApiClient } from '../segment/public-api-client';
import { heartbeatSliceMs } from './chunk-pacing';
import { ChunkSender, type OpenSource, type TrackingSender } from './chunk-sender';
import { asInputFailure, assertInputAllowed, assertSameVersion, assertUnchanged, parseActivityInput, reportRoot, stagedInput } from './input-checks';
import {
  confirmWriteKeyInputSchema,
  finalizeReportInputSchema,
  inspectInputSchema,
  planChunksInputSchema,
  processChunkInputSchema,
  stageInputInputSchema,
} from '../contracts/job-input';
import type {
  ChunkResult,
  DeliveryCheck,
  FinalizedReport,
  FinalizeReportInput,
  ImportActivities,
  InputRef,
  InspectInputInput,
  InspectInputResult,
  PlanChunksInput,
  PlannedChunks,
  ProcessChunkInput,
  StagedInput,
  StageInputInput,
  WorkerApprovalPolicy,
} from '../contracts/import-job';
import { FailureType } from '../contracts/failures';

export interface ImportActivityDeps {
  /** The worker's settings and secrets (write keys, SEGFLOW_REPORT_DIR, allow-lists). */
  env: NodeJS.ProcessEnv;
  /** Opens an input by path or URL (src/io/byte-source.ts openByteSource). */
  openSource: OpenSource;
  /** The Tracking API client for a source name, its write key taken from `env` (src/segment/tracking-client.ts). */
  tracking: (source: string) => TrackingSender;
  /** A Public API client holding this token, for the write-key check (src/segment/public-api-client.ts). */
  publicApi: (token: string) => Pick<PublicApiClient, 'listSources'>;
  /** The clock that dates acknowledged events (`sentByDay`). */
  now: () => Date;
}

export function createImportActivities(deps: ImportActivityDeps): ImportActivities {
  const { env } = deps;
  const allowedInput = (location: string) => assertInputAllowed(location, env);
  // Read once: a worker started with an unknown SEGFLOW_REQUIRE_APPROVAL value refuses to start (src/config.ts).
  const approvals = requiredApprovals(env);

  /** What the activity reads: the input, or for a staged job the staged copy derived from its job id. */
  function inputFile(ref: InputRef): string {
    return ref.staged ? stagedInput(env, { jobId: ref.jobId!, reportDir: ref.reportDir, format: ref.format }).file : ref.file;
  }

  async function inspectInput(raw: InspectInputInput): Promise<InspectInputResult> {
    const checked = parseActivityInput(inspectInputSchema, 'inspectInput', raw);
    const input = { ...raw, file: inputFile(checked) };
    await allowedInput(input.file);
    const source = deps.openSource(input.file);
    let fileSize: number;
    let fileVersion: string | undefined;
    try {
      fileSize = await source.size();
      fileVersion = await source.version();
    } catch (error) {
      throw ApplicationFailure.nonRetryable(
        `Cannot read input ${displayLocation(input.file)}: ${(error as Error).message}`,
        FailureType.InputUnreadable,
      );
    }
    const pinned = fileVersion === undefined ? {} : { fileVersion };
    if (input.format === 'ndjson') return { fileSize, ...pinned, start: initialCursor('ndjson') };
    let header;
    try {
      header = await readCsvHeader(source);
    } catch (error) {
      throw ApplicationFailure.nonRetryable(`${displayLocation(input.file)}: ${(error as Error).message}`, FailureType.InvalidCsvHeader);
    }
    const compiled = compileCsvHeader(header.columns, { ignore: input.ignoreColumns });
    if ('error' in compiled) {
      throw ApplicationFailure.nonRetryable(`${displayLocation(input.file)}, line 1 (header): ${compiled.error}`, FailureType.InvalidCsvHeader);
    }
    return { fileSize, ...pinned, csvColumns: header.columns, start: initialCursor('csv', header) };
  }

  async function planChunks(raw: PlanChunksInput): Promise<PlannedChunks> {
    const checked = parseActivityInput(planChunksInputSchema, 'planChunks', raw);
    const input = { ...raw, file: inputFile(checked) };
    await allowedInput(input.file);
    const source = deps.openSource(input.file, { pinnedVersion: input.expectedFileVersion });
    // Planning scans up to maxChunks × targetChunkBytes; heartbeat while it does, so a slow disk or URL is not
    // mistaken for a dead worker and a cancelled job stops planning.
    const ticker = setInterval(() => heartbeat(), heartbeatSliceMs(activityInfo()));
    let result;
    try {
      result = await planFileChunks(source, {
        format: input.format,
        from: input.from,
        firstIndex: input.firstIndex,
        maxChunks: input.maxChunks,
        targetChunkBytes: input.targetChunkBytes,
        maxRecordsPerChunk: input.maxRecordsPerChunk,
      });
    } catch (error) {
      throw asInputFailure(error, source.description);
    } finally {
      clearInterval(ticker);
    }
    assertUnchanged(input.file, input.expectedFileSize, result.fileSize);
    await assertSameVersion(source, input.file, input.expectedFileVersion);
    return { chunks: result.chunks, next: result.next };
  }

  async function processChunk(raw: ProcessChunkInput): Promise<ChunkResult> {
    const checked = parseActivityInput(processChunkInputSchema, 'processChunk', raw);
    // The last gate before Segment: a worker whose operator requires approval sends only an approved plan's chunks.
    if (checked.mode === 'send' && approvals.imports && checked.approvedPlanHash === undefined) {
      throw ApplicationFailure.nonRetryable(
        `This worker requires an approval before an import sends (SEGFLOW_REQUIRE_APPROVAL=imports) and job ${checked.jobId} has none; start it with --require-approval.`,
        FailureType.ApprovalRequired,
      );
    }
    const root = reportRoot(env, checked.reportDir, checked.jobId);
    const staged = checked.staged || checked.fileMap !== undefined ? stagedInput(env, checked) : undefined;
    const { fileMap: _legacyMap, ...rest } = raw as ProcessChunkInput & { fileMap?: string };
    const work = { ...rest, ...(staged ? { file: staged.file, fileMap: staged.map } : {}) };
    return new ChunkSender(
      { openSource: deps.openSource, assertInputAllowed: allowedInput, tracking: deps.tracking, now: deps.now },
      work,
      root,
    ).run();
  }

  async function finalizeReport(raw: FinalizeReportInput): Promise<FinalizedReport> {
    const input = parseActivityInput(finalizeReportInputSchema, 'finalizeReport', raw);
    const root = reportRoot(env, input.reportDir, input.jobId);
    // Derived whatever the job's input was: a job that failed while staging leaves a partial copy too.
    const staged = stagedInput(env, { jobId: input.jobId, reportDir: input.reportDir, format: input.format ?? 'ndjson' });
    let locate: ((row: RejectedRow) => RejectedRow) | undefined;
    if ((input.staged || input.stagedMap !== undefined) && (await exists(staged.map))) {
      const files = await readStagedMap(staged.map);
      const named = input.namedFiles === true;
      locate = (row) => {
        const located = locateLine(files, row.line);
        if (located === undefined) return row;
        return named ? { file: located.file.name, ...row, line: located.line } : { ...row, line: located.line };
      };
    }
    const merged = await mergeRejectReports(root, input.jobId, locate);
    await removeChunkReports(root, input.jobId);
    // The staged copy is customer data and can be large: it goes once the job has ended, however it ended.
    await rm(staged.dir, { recursive: true, force: true });
    // `segflow rejects` writes the rows back in the input's own format, with its header.
    if (input.format)
      await writeReportInputInfo(root, input.jobId, { format: input.format, ...(input.csvColumns ? { csvColumns: input.csvColumns } : {}) });
    return { ...merged, dir: jobReportDir(root, input.jobId) };
  }

  /**
   * Decompresses and concatenates a `.gz` or many-file input into one plain file in the shared report directory
   * (src/io/staging.ts). Heartbeats carry the checkpoint of the last complete file, so a retry continues from there.
   */
  async function stageInput(raw: StageInputInput): Promise<StagedInput> {
    const input = parseActivityInput(stageInputInputSchema, 'stageInput', raw);
    const info = activityInfo();
    const { file: stagedPath, map: mapPath } = stagedInput(env, input);
    let entries: InputEntry[];
    try {
      entries =
        input.kind === 'file'
          ? [{ location: input.location, name: basename(locationName(input.location)), gzip: /\.gz$/i.test(locationName(input.location)) }]
          : await expandInputSet(input.kind, input.location, input.format);
    } catch (error) {
      if (error instanceof InputSetError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InputInvalid);
      throw error;
    }
    for (const entry of entries) await allowedInput(entry.location);
    let latest = info.heartbeatDetails as StageCheckpoint | undefined;
    // Heartbeats on a timer too: a slow remote file may take a while between progress reports.
    const timer = setInterval(() => heartbeat(latest), 2000);
    try {
      const staged = await stageInputs({
        entries,
        format: input.format,
        stagedPath,
        mapPath,
        checkpoint: latest,
        env,
        signal: Context.current().cancellationSignal,
        onProgress: (checkpoint) => {
          latest = checkpoint;
          heartbeat(checkpoint);
        },
      });
      if (staged.digest !== input.digest) {
        throw ApplicationFailure.nonRetryable(
          `The input files changed since \`segflow import\` read them (their content digest differs); start a new import of the new content`,
          FailureType.InputChanged,
        );
      }
      return { files: staged.files.length };
    } catch (error) {
      if (error instanceof StagingError) throw ApplicationFailure.nonRetryable(error.message, error.failureType);
      throw error;
    } finally {
      clearInterval(timer);
    }
  }

  /** The approval gate binds a decision to this hash; workflow code has no crypto, so it is computed here. */
  async function hashImportPlan(plan: unknown): Promise<string> {
    return contentHash(plan);
  }

  /**
   * Segment answers 200 to a write key it does not know and drops the data (docs/segment-tracking-api.md), so a
   * wrong key would look like success. With SEGMENT_API_TOKEN the worker lists the workspace's sources (every page)
   * and matches the key: no source, or a disabled one, refuses the job before anything is sent, naming the source.
   * Without a token (or one that cannot read write keys) the job runs, and says delivery is not confirmed.
   */
  async function confirmWriteKey(raw: { source: string }): Promise<DeliveryCheck> {
    const input = parseActivityInput(confirmWriteKeyInputSchema, 'confirmWriteKey', raw);
    let writeKey: string;
    try {
      writeKey = resolveWriteKey(input.source, env);
    } catch (error) {
      if (error instanceof MissingSecretError) throw ApplicationFailure.nonRetryable(error.message, FailureType.MissingSecret);
      throw error;
    }
    if (!env.SEGMENT_API_TOKEN) return { confirmed: false, reason: 'the worker has no SEGMENT_API_TOKEN to check the write key with' };
    let sources;
    try {
      sources = await deps.publicApi(env.SEGMENT_API_TOKEN).listSources();
    } catch (error) {
      return { confirmed: false, reason: `the Public API could not list sources (${(error as Error).message.slice(0, 200)})` };
    }
    const owner = sources.find((source) => source.writeKeys.includes(writeKey));
    if (owner && owner.enabled) return { confirmed: true, sourceId: owner.id, sourceName: owner.name ?? owner.id };
    if (owner) {
      throw ApplicationFailure.nonRetryable(
        `The write key of --source ${input.source} belongs to Segment source "${owner.name ?? owner.id}" (${owner.id}), which is disabled: Segment would accept the events and drop them. Enable the source or use another key.`,
        FailureType.WriteKeyNotConfirmed,
      );
    }
    if (sources.every((source) => source.writeKeys.length === 0)) {
      return { confirmed: false, reason: 'the SEGMENT_API_TOKEN cannot read write keys (it needs the Source Admin permission)' };
    }
    throw ApplicationFailure.nonRetryable(
      `The write key of --source ${input.source} (${writeKeyVariable(input.source)}) belongs to no source of the workspace (${sources.length} sources checked): Segment would answer 200 and drop every event. Set the key of the intended source.`,
      FailureType.WriteKeyNotConfirmed,
    );
  }

  /** The worker's approval policy, for the workflow to follow at a job's start (workflow code cannot read env). */
  async function workerApprovalPolicy(): Promise<WorkerApprovalPolicy> {
    return approvals;
  }

  return { inspectInput, planChunks, processChunk, finalizeReport, hashImportPlan, stageInput, confirmWriteKey, workerApprovalPolicy };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
