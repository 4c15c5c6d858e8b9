/**
 * Import activities: thin adapters from the pure core (row conversion, batching, retry policy) to files and
 * HTTP. They take references (file, byte range) and return counts; event data never leaves the worker.
 */
import { activityInfo, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { rm } from 'node:fs/promises';
import { ConfigError, publicApiRoot, resolveWriteKey, trackingApiRoot, MissingSecretError, writeKeyVariable } from '../config';
import { BatchBuilder } from '../core/batch-builder';
import { compileCsvHeader } from '../core/csv-mapping';
import { contentHash } from '../core/plan-hash';
import { displayLocation, locationName } from '../shared/location';
import { isValidJobId, jobIdProblem } from '../core/job-id';
import { messageIdNamespace } from '../core/message-id';
import { Pacer, pacedBatchEvents } from '../shared/pacer';
import { RowConverter } from '../core/row-to-message';
import type { RejectedRow } from '../core/types';
import type { ByteSource } from '../io/byte-source';
import { openByteSource } from '../io/open-byte-source';
import { planChunks as planFileChunks, readCsvHeader, initialCursor } from '../io/chunk-planner';
import { ChunkCheckpointWriter, ChunkSupersededError, readChunkCheckpoint } from '../io/chunk-checkpoint';
import { expandInputSet, InputSetError, type InputEntry } from '../io/input-set';
import { checkInputAllowed, InputNotAllowedError } from '../io/input-policy';
import { readRecordBatches } from '../io/record-reader';
import { locateLine, readStagedMap, stageInputs, StagingInputChangedError, StagingInputError, type StageCheckpoint, type StagedFile } from '../io/staging';
import {
  chunkCheckpointPath,
  localRejectsPath,
  mergeRejectReports,
  RejectWriter,
  removeChunkReports,
  serverRejectsPath,
  jobReportDir,
  writeReportInputInfo,
} from '../io/reject-report';
import { PublicApiClient } from '../segment/public-api-client';
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../segment/tracking-client';
import { noteChunkStart, noteRowRejected, noteSegmentResponse } from './metrics';
import {
  rateShareQuery,
  type ChunkDescriptor,
  type ChunkResult,
  type DeliveryCheck,
  type FinalizedReport,
  type FinalizeReportInput,
  type ImportActivities,
  type InspectInputInput,
  type InspectInputResult,
  type PlanChunksInput,
  type PlannedChunks,
  type ProcessChunkInput,
  type RateShare,
  type StagedInput,
  type StageInputInput,
} from '../contracts/import-job';
import { FailureType } from '../contracts/failures';

/** Progress saved with each heartbeat: a retried attempt skips what Segment already acknowledged. */
interface ChunkCheckpoint {
  /** Records (chunk-relative) fully covered by acknowledged batches. */
  recordsAcked: number;
  eventsSent: number;
  batchesSent: number;
  serverRejected: number;
  /** Per-day counts of the acknowledged batches, so a resumed attempt reports what earlier ones sent. */
  sentByDay?: Record<string, number>;
}

interface PendingEvent {
  line: number;
  raw: string;
  serialized: string;
}

export interface ImportActivityDeps {
  env: NodeJS.ProcessEnv;
}

export function createImportActivities({ env }: ImportActivityDeps): ImportActivities {
  /**
   * The job's report root: SEGFLOW_REPORT_DIR, or the job's --report-dir inside it. Checked here, not only by the
   * CLI, because anyone who can start a workflow chooses these strings; the job id is checked along with it.
   */
  const reportRoot = (explicit: string | undefined, jobId: string) => {
    if (!isValidJobId(jobId)) throw ApplicationFailure.nonRetryable(jobIdProblem(jobId), FailureType.InvalidJobId);
    const base = resolve(env.SEGFLOW_REPORT_DIR ?? 'segflow-reports');
    if (explicit === undefined) return base;
    const root = resolve(base, explicit);
    if (isAbsolute(explicit) || !isWithin(base, root)) {
      throw ApplicationFailure.nonRetryable(
        `the report directory "${explicit.slice(0, 80)}" is not inside this worker's SEGFLOW_REPORT_DIR; --report-dir is a relative sub-directory of it`,
        FailureType.InvalidReportDir,
      );
    }
    return root;
  };

  /** The worker's allow-lists (src/io/input-policy.ts), checked before every read of an input. */
  const allowedInput = async (location: string) => {
    try {
      await checkInputAllowed(location, env);
    } catch (error) {
      if (error instanceof InputNotAllowedError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InputNotAllowed);
      throw error;
    }
  };

  async function inspectInput(input: InspectInputInput): Promise<InspectInputResult> {
    await allowedInput(input.file);
    const source = openByteSource(input.file);
    let fileSize: number;
    let fileVersion: string | undefined;
    try {
      fileSize = await source.size();
      fileVersion = await source.version();
    } catch (error) {
      throw ApplicationFailure.nonRetryable(`Cannot read input ${displayLocation(input.file)}: ${(error as Error).message}`, FailureType.InputUnreadable);
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

  async function planChunks(input: PlanChunksInput): Promise<PlannedChunks> {
    await allowedInput(input.file);
    const source = openByteSource(input.file, { pinnedVersion: input.expectedFileVersion });
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

  async function processChunk(input: ProcessChunkInput): Promise<ChunkResult> {
    const info = activityInfo();
    const ctx = Context.current();
    const root = reportRoot(input.reportDir, input.jobId);
    // Progress comes from the heartbeat details or the durable checkpoint file, whichever is further along: the
    // file is written after every acknowledged batch, heartbeats reach the server only every few seconds.
    const checkpointPath = chunkCheckpointPath(root, input.jobId, input.chunk.index);
    const checkpointKey = { runId: info.workflowExecution?.runId ?? '', activityId: info.activityId, startByte: input.chunk.startByte, endByte: input.chunk.endByte };
    const fromHeartbeat = info.heartbeatDetails as ChunkCheckpoint | undefined;
    const fromFile = input.mode === 'send' ? await readChunkCheckpoint(checkpointPath, checkpointKey) : undefined;
    const saved = [fromHeartbeat, fromFile].filter((c): c is ChunkCheckpoint => c !== undefined).sort((a, b) => b.recordsAcked - a.recordsAcked)[0];
    const checkpoint: ChunkCheckpoint = { recordsAcked: 0, eventsSent: 0, batchesSent: 0, serverRejected: 0, ...(saved ?? {}) };
    const resuming = saved !== undefined;
    const checkpointAtStart = { ...checkpoint };
    noteChunkStart(resuming ? checkpointAtStart : undefined);
    await allowedInput(input.file);
    const source = openByteSource(input.file, { pinnedVersion: input.expectedFileVersion });
    assertUnchanged(input.file, input.expectedFileSize, await inputSize(source));
    await assertSameVersion(source, input.file, input.expectedFileVersion);
    // Bound to content: the validation pass records each chunk's digest, and an approved send re-checks it before its
    // first request. An in-place edit of the same size (or an overwritten object) after approval is caught here.
    const digest = input.mode === 'validate' || input.expectedDigest !== undefined ? await chunkDigest(source, input.chunk) : undefined;
    if (input.expectedDigest !== undefined && digest !== input.expectedDigest) {
      const { chunk } = input;
      throw ApplicationFailure.nonRetryable(
        `${displayLocation(input.file)}: lines ${chunk.firstLine}-${chunk.firstLine + chunk.lines - 1} (chunk ${chunk.index + 1}) changed since they were ` +
          'validated and approved; nothing more is sent from them. Start a new import of the new content',
        FailureType.InputChanged,
      );
    }

    const sending = input.mode === 'send';
    let client: TrackingClient | undefined;
    if (sending) {
      try {
        client = new TrackingClient({
          apiRoot: trackingApiRoot(env),
          writeKey: resolveWriteKey(input.source, env),
          ...(env.SEGFLOW_REQUEST_TIMEOUT_MS ? { requestTimeoutMs: Number(env.SEGFLOW_REQUEST_TIMEOUT_MS) } : {}),
        });
      } catch (error) {
        if (error instanceof MissingSecretError) throw ApplicationFailure.nonRetryable(error.message, FailureType.MissingSecret);
        if (error instanceof ConfigError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InvalidConfig);
        throw error;
      }
    }

    const newConverter = (namespaceKey: string) =>
      new RowConverter({
        format: input.format,
        csvHeader: input.csvColumns,
        namespace: messageIdNamespace(namespaceKey),
        allowMissingTimestamp: input.allowMissingTimestamp,
        maxEventBytes: input.maxEventBytes,
        now: new Date(input.referenceTime),
        ignoreFields: input.ignoreColumns,
      });
    const converter = newConverter(input.idNamespace);
    // A staged input: rows are converted with their own file's line (and, for many files, that file's namespace),
    // so a file's messageIds do not depend on which other files share the job. Rejects keep the staged line; the
    // final report translates it (finalizeReport).
    const stagedFiles = input.fileMap ? await loadStagedMap(input.fileMap) : undefined;
    const fileConverters = new Map<number, RowConverter>();
    const convertRecord = (line: number, raw: string, values: readonly string[] | undefined) => {
      if (stagedFiles === undefined) return converter.convert(line, raw, values);
      const located = locateLine(stagedFiles, line);
      if (located === undefined) return converter.convert(line, raw, values);
      let fileConverter = input.perFileIds ? fileConverters.get(located.index) : converter;
      if (fileConverter === undefined) {
        fileConverter = newConverter(`${input.idNamespace}\0${located.file.name}`);
        fileConverters.set(located.index, fileConverter);
      }
      const outcome = fileConverter.convert(located.line, raw, values);
      if (!outcome.ok) outcome.reject.line = line;
      return outcome;
    };
    const localRejects = await RejectWriter.open(localRejectsPath(root, input.jobId, input.chunk.index), 'replace');
    const serverRejects = sending
      ? await RejectWriter.open(serverRejectsPath(root, input.jobId, input.chunk.index), resuming ? 'append' : 'truncate')
      : undefined;
    const durableCheckpoint = sending ? await ChunkCheckpointWriter.open(checkpointPath, checkpointKey, checkpoint, info.attempt) : undefined;

    const pacing = sending && input.rateLimit ? new ChunkPacing(input, info, ctx) : undefined;
    const builder = new BatchBuilder({
      maxBatchBytes: input.maxBatchBytes,
      // Under a rate cap a request carries about two seconds of this chunk's share, so no single request owes a long
      // pacing wait and events arrive as a steady stream (src/shared/pacer.ts).
      maxEventsPerBatch:
        pacing && input.rateLimit!.unit === 'events' ? pacedBatchEvents(input.maxEventsPerBatch, input.rateLimit!.perSecond) : input.maxEventsPerBatch,
    });
    let pending: PendingEvent[] = [];
    const result: ChunkResult = {
      index: input.chunk.index,
      rowsRead: 0,
      rowsRejected: 0,
      eventsSent: checkpoint.eventsSent,
      eventsValid: 0,
      batchesSent: checkpoint.batchesSent,
      bytes: input.chunk.endByte - input.chunk.startByte,
      typeCounts: {},
      serverFieldRows: 0,
      serverFields: [],
      sentByDay: { ...checkpoint.sentByDay },
      attempt: info.attempt,
    };
    let serverRejectedThisAttempt = 0;
    const retryCount = info.attempt - 1;

    /**
     * Heartbeats carry the checkpoint and bring back a cancellation request (the SDK delivers it in the heartbeat's
     * answer): a cancelled chunk stops at its next heartbeat, never in the middle of a request, so what it reports as
     * sent is exactly what Segment acknowledged.
     */
    const keepAlive = () => {
      heartbeat(checkpoint);
      if (ctx.cancellationSignal.aborted) throw stopped();
    };
    const stopped = () => {
      const partial: ChunkResult = { ...result, rowsRejected: result.rowsRejected + checkpoint.serverRejected + serverRejectedThisAttempt, stopped: true };
      return new CancelledFailure(`chunk ${input.chunk.index + 1} stopped: ${String(ctx.cancellationSignal.reason ?? 'cancelled')}`, [partial]);
    };

    /** Sends one batch through the one sender (src/segment/tracking-client.ts); Temporal does the retrying. */
    const sendEvents = async (events: PendingEvent[]): Promise<void> => {
      // The request itself is not aborted on cancellation (only bounded by its timeout): an aborted request may or may
      // not have reached Segment, and the chunk could not say truthfully what it sent. Heartbeats go on meanwhile, so
      // a slow answer is not mistaken for a dead worker.
      const ticker = setInterval(() => heartbeat(checkpoint), heartbeatSliceMs(info));
      try {
        await client!.send(events, {
          retryCount,
          onResponse: noteSegmentResponse,
          beforePost: async (batch) => {
            // Every request heartbeats first; under a rate cap the wait before it heartbeats every slice.
            if (pacing) await pacing.pay(input.rateLimit!.unit === 'events' ? batch.length : 1, keepAlive);
            keepAlive();
            // An attempt Temporal has already replaced (its heartbeat timed out while it ran) sends nothing more.
            await durableCheckpoint?.assertCurrent();
          },
          onAccepted: (batch) => {
            result.eventsSent += batch.length;
            result.batchesSent += 1;
            // The day Segment received the batch (UTC), which is how its daily API-call usage counts (docs/verify.md).
            const day = new Date().toISOString().slice(0, 10);
            result.sentByDay[day] = (result.sentByDay[day] ?? 0) + batch.length;
          },
          onRefused: async (event, reason) => {
            await serverRejects!.write({ line: event.line, field: '(message)', reason, raw: event.raw });
            await serverRejects!.flush();
            serverRejectedThisAttempt += 1;
          },
        });
      } catch (error) {
        if (error instanceof TrackingRetryableError) {
          throw ApplicationFailure.create({
            message: error.message,
            type: FailureType.SegmentRetryable,
            nonRetryable: false,
            // Temporal's backoff grows with the attempt number, which counts every failure of this chunk. When this
            // attempt got batches through, Segment is not down: retry soon instead of waiting out a long backoff.
            nextRetryDelay: error.delayMs ?? (result.batchesSent > checkpointAtStart.batchesSent ? 1000 : undefined),
          });
        }
        if (error instanceof TrackingFatalError) throw ApplicationFailure.nonRetryable(error.message, FailureType.SegmentFatal);
        // Temporal ignores the outcome of a replaced attempt; the failure only ends this one and says why.
        if (error instanceof ChunkSupersededError) throw ApplicationFailure.retryable(error.message, FailureType.ChunkSuperseded);
        throw error;
      } finally {
        clearInterval(ticker);
      }
    };

    const flush = async (recordsCovered: number) => {
      if (pending.length > 0) {
        await sendEvents(pending);
        pending = [];
        builder.takeEvents();
      }
      checkpoint.recordsAcked = recordsCovered;
      checkpoint.eventsSent = result.eventsSent;
      checkpoint.batchesSent = result.batchesSent;
      checkpoint.sentByDay = { ...result.sentByDay };
      checkpoint.serverRejected += serverRejectedThisAttempt;
      serverRejectedThisAttempt = 0;
      // Durable before the next batch goes out: a crash from here on re-sends at most that one batch.
      await durableCheckpoint?.save(checkpoint);
      heartbeat(checkpoint);
    };

    const seenMessageIds = new Map<string, number>();
    try {
      if (pacing) await pacing.start(keepAlive);
      let position = 0;
      for await (const records of readRecordBatches(source, input.chunk, input.format, { expectedFields: input.csvColumns?.length })) {
        for (const record of records) {
          position = record.recordIndex - input.chunk.firstRecord;
          result.rowsRead += 1;
          if (position % 2000 === 0) keepAlive();
          let reject: RejectedRow | undefined;
          let converted;
          if ('error' in record) {
            reject = { line: record.line, field: '(row)', reason: record.error, raw: record.raw };
          } else {
            const outcome = convertRecord(record.line, record.raw, record.values);
            if (outcome.ok) converted = outcome;
            else reject = outcome.reject;
          }
          if (!reject) {
            // Segment keeps the first event of a messageId and drops the rest (docs/segment-tracking-api.md): a repeat within the
            // chunk would be counted as sent while never arriving, so it is reported instead.
            const messageId = converted!.message.messageId;
            const firstLine = seenMessageIds.get(messageId);
            if (firstLine !== undefined) reject = { line: record.line, field: 'messageId', reason: `duplicate of line ${firstLine}`, raw: record.raw };
            else seenMessageIds.set(messageId, record.line);
          }
          if (reject) {
            result.rowsRejected += 1;
            noteRowRejected(reject);
            await localRejects.write(reject);
            continue;
          }
          const { message, serialized, bytes, serverFields } = converted!;
          result.eventsValid += 1;
          if (serverFields !== undefined) {
            result.serverFieldRows += 1;
            for (const field of serverFields) if (!result.serverFields.includes(field)) result.serverFields.push(field);
          }
          result.typeCounts[message.type] = (result.typeCounts[message.type] ?? 0) + 1;
          if (message.timestamp) {
            if (!result.minTimestamp || message.timestamp < result.minTimestamp) result.minTimestamp = message.timestamp;
            if (!result.maxTimestamp || message.timestamp > result.maxTimestamp) result.maxTimestamp = message.timestamp;
          }
          if (!sending || position < checkpoint.recordsAcked) continue;
          if (!builder.tryAdd(serialized, bytes)) {
            await flush(position);
            if (!builder.tryAdd(serialized, bytes)) {
              // RowConverter already rejects events over the per-event limit, so this means limits are misconfigured.
              throw ApplicationFailure.nonRetryable(`Event on line ${record.line} does not fit an empty batch`, FailureType.BatchLimits);
            }
          }
          pending.push({ line: record.line, raw: record.raw, serialized });
        }
      }
      if (sending) await flush(input.chunk.records);
      await localRejects.close();
      await serverRejects?.close();
    } catch (error) {
      if (error instanceof CancelledFailure) {
        // Stopped on purpose: keep what was found so far, so the job's reject report covers every row it read.
        await localRejects.close();
        await serverRejects?.close();
        throw error;
      }
      await localRejects.abandon();
      await serverRejects?.abandon();
      throw asInputFailure(error, source.description);
    } finally {
      await durableCheckpoint?.close();
    }
    // Segment's refusals are counted by the checkpoint (earlier attempts) and this attempt's own.
    if (input.mode === 'validate' && digest !== undefined) result.digest = digest;
    result.rowsRejected += checkpoint.serverRejected;
    if (!sending) {
      result.eventsSent = 0;
      result.sentByDay = {};
    }
    return result;
  }

  async function finalizeReport(input: FinalizeReportInput): Promise<FinalizedReport> {
    const root = reportRoot(input.reportDir, input.jobId);
    let locate: ((row: RejectedRow) => RejectedRow) | undefined;
    if (input.stagedMap) {
      const files = await readStagedMap(input.stagedMap);
      const named = input.namedFiles === true;
      locate = (row) => {
        const located = locateLine(files, row.line);
        if (located === undefined) return row;
        return named ? { file: located.file.name, ...row, line: located.line } : { ...row, line: located.line };
      };
    }
    const merged = await mergeRejectReports(root, input.jobId, locate);
    await removeChunkReports(root, input.jobId);
    // The staged copy is customer data and can be large: it goes once the job has ended.
    if (input.stagedMap && input.format) await rm(join(dirname(input.stagedMap), `input.${input.format}`), { force: true });
    // `segflow rejects` writes the rows back in the input's own format, with its header.
    if (input.format) await writeReportInputInfo(root, input.jobId, { format: input.format, ...(input.csvColumns ? { csvColumns: input.csvColumns } : {}) });
    return { ...merged, dir: jobReportDir(root, input.jobId) };
  }

  /**
   * Decompresses and concatenates a `.gz` or many-file input into one plain file in the shared report directory
   * (src/io/staging.ts). Heartbeats carry the checkpoint of the last complete file, so a retry continues from there.
   */
  async function stageInput(input: StageInputInput): Promise<StagedInput> {
    const info = activityInfo();
    const dir = join(jobReportDir(reportRoot(input.reportDir, input.jobId), input.jobId), 'staged');
    const stagedPath = join(dir, `input.${input.format}`);
    const mapPath = join(dir, 'files.ndjson');
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
      return { file: stagedPath, map: mapPath, files: staged.files.length };
    } catch (error) {
      if (error instanceof StagingInputError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InputInvalid);
      if (error instanceof StagingInputChangedError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InputChanged);
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
  async function confirmWriteKey(input: { source: string }): Promise<DeliveryCheck> {
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
      sources = await new PublicApiClient({ baseUrl: publicApiRoot(env), token: env.SEGMENT_API_TOKEN }).listSources();
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

  return { inspectInput, planChunks, processChunk, finalizeReport, hashImportPlan, stageInput, confirmWriteKey };
}

const stagedMapCache = new Map<string, Promise<StagedFile[]>>();

/** The map is read once per worker process and job, not once per chunk. */
function loadStagedMap(path: string): Promise<StagedFile[]> {
  let files = stagedMapCache.get(path);
  if (files === undefined) {
    if (stagedMapCache.size > 16) stagedMapCache.clear();
    files = readStagedMap(path);
    files.catch(() => stagedMapCache.delete(path));
    stagedMapCache.set(path, files);
  }
  return files;
}


/**
 * Same size is not same content: an object overwritten in place, or a file rewritten with the same length, keeps its
 * size but not its ETag / inode and modification time (docs/input-pinning.md).
 */
async function assertSameVersion(source: ByteSource, file: string, expected: string | undefined): Promise<void> {
  if (expected === undefined) return;
  let actual: string | undefined;
  try {
    actual = await source.version();
  } catch (error) {
    throw asInputFailure(error, source.description);
  }
  if (actual !== expected) {
    throw ApplicationFailure.nonRetryable(
      `${displayLocation(file)} changed while being imported (it is no longer the version the job first read: ` +
        `${clipVersion(expected)} -> ${clipVersion(actual)}); start a new import of the new content`,
      FailureType.InputChanged,
    );
  }
}

/** An ETag is chosen by the server: show a short prefix, never a long opaque string. */
function clipVersion(version: string | undefined): string {
  if (version === undefined) return 'unknown';
  return version.length > 60 ? `${version.slice(0, 60)}…` : version;
}

function assertUnchanged(file: string, expected: number, actual: number): void {
  if (expected !== actual) {
    throw ApplicationFailure.nonRetryable(
      `${displayLocation(file)} changed while being imported (size ${expected} -> ${actual} bytes); start a new import of the new content`,
      FailureType.InputChanged,
    );
  }
}
/**
 * How often a chunk heartbeats while it waits (pacing, a slow request): a third of its heartbeat timeout, at most a
 * second, so a rate wait of any length never looks like a dead worker, and a cancellation is noticed within about a
 * second of reaching the worker.
 */
export function heartbeatSliceMs(info: { heartbeatTimeoutMs?: number }): number {
  const timeout = info.heartbeatTimeoutMs ?? 30_000;
  return Math.max(100, Math.min(1000, Math.floor(timeout / 3)));
}

/** How long a chunk waits for the workflow's answer about its share before using the always-safe share. */
const RATE_SHARE_QUERY_WAIT_MS = 2000;

/** How often a rate-capped chunk asks the workflow for its current share of the cap. */
export const RATE_SHARE_REFRESH_MS = 1000;

/**
 * A chunk's pacing under the job's rate cap. Temporal is the coordinator: the workflow knows which chunks are in
 * flight and answers the `rateShare` query with this chunk's share (cap ÷ chunks sending); the chunk asks again every
 * RATE_SHARE_REFRESH_MS. A share only drops when a sibling starts, and a starting chunk waits until every sibling has
 * had time to ask (`start`), so the shares in use never add up to more than the cap.
 */
class ChunkPacing {
  private readonly pacer: Pacer;
  private lastAskedMs = 0;
  private readonly slice: number;

  constructor(
    private readonly input: ProcessChunkInput,
    private readonly info: ReturnType<typeof activityInfo>,
    private readonly ctx: Context,
  ) {
    this.pacer = new Pacer(input.rateLimit!.perSecond);
    this.slice = heartbeatSliceMs(info);
    this.lastAskedMs = Date.now();
  }

  /** Before the first request: learn the current share and, when siblings are sending, let them see this chunk. */
  async start(keepAlive: () => void): Promise<void> {
    const share = await this.ask();
    const siblings = share ? share.inFlight - 1 : (this.input.jobRate?.concurrency ?? 1) - 1;
    if (siblings > 0) await this.sleepSliced(RATE_SHARE_REFRESH_MS + 500, keepAlive);
  }

  /** Waits until `cost` tokens are paid for, heartbeating every slice and following the share as it changes. */
  async pay(cost: number, keepAlive: () => void): Promise<void> {
    this.pacer.reserve(cost, Date.now());
    for (;;) {
      if (Date.now() - this.lastAskedMs >= RATE_SHARE_REFRESH_MS) await this.ask();
      const waitMs = this.pacer.waitMs(Date.now());
      if (waitMs <= 0) return;
      await this.sleepSliced(Math.min(waitMs, RATE_SHARE_REFRESH_MS), keepAlive);
    }
  }

  private async sleepSliced(ms: number, keepAlive: () => void): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      keepAlive();
      const left = until - Date.now();
      if (left <= 0) return;
      try {
        await this.ctx.sleep(Math.min(left, this.slice));
      } catch (error) {
        // A cancellation wakes the sleep early; keepAlive turns it into this chunk's partial result.
        if (this.ctx.cancellationSignal.aborted) keepAlive();
        throw error;
      }
    }
  }

  private async ask(): Promise<RateShare | undefined> {
    this.lastAskedMs = Date.now();
    const job = this.input.jobRate;
    let share: RateShare | undefined;
    try {
      const execution = this.info.workflowExecution;
      if (execution) {
        // Bounded: after a worker crash the query first goes to the dead worker's sticky queue and can hang for
        // longer than the heartbeat timeout, which timed out the resuming attempt (test/integration/worker-crash.test.ts).
        const query = this.ctx.client.workflow.getHandle(execution.workflowId, execution.runId).query(rateShareQuery);
        query.catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        share = await Promise.race([query, new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), RATE_SHARE_QUERY_WAIT_MS)))]);
        clearTimeout(timer);
      }
    } catch {
      share = undefined; // the workflow's worker is busy or gone: fall back to a share that is always safe
    }
    const perSecond = share?.perSecond ?? (job ? job.perSecond / job.concurrency : this.pacer.rate);
    const capped = job ? Math.min(perSecond, job.perSecond) : perSecond;
    if (capped > 0 && capped !== this.pacer.rate) this.pacer.setRate(capped, Date.now());
    return share;
  }
}

/** The input's size; a missing file or a refused URL is a permanent problem, not one to retry forever. */
async function inputSize(source: ByteSource): Promise<number> {
  try {
    return await source.size();
  } catch (error) {
    throw asInputFailure(error, source.description);
  }
}

/** Error codes and HTTP statuses that retrying cannot fix: the input is gone, forbidden, or not a file. */
const PERMANENT_FS_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR']);
const PERMANENT_HTTP_STATUSES = new Set([200, 401, 403, 404, 410, 416]);
/** 412: a range request pinned to the version the job first read (If-Match) found another one. */
const CHANGED_HTTP_STATUS = 412;

/**
 * Marks input errors that cannot heal as non-retryable `InputUnreadable`, with the reason, so a deleted file or an
 * expired presigned URL fails the job at once instead of retrying until the attempt budget runs out.
 */
export function asInputFailure(error: unknown, description: string): unknown {
  if (error instanceof ApplicationFailure || error instanceof CancelledFailure) return error;
  const err = error as { code?: string; status?: number; message?: string; path?: string };
  if (err.status === CHANGED_HTTP_STATUS) {
    return ApplicationFailure.create({
      message: `${description} changed while being imported (${String(err.message ?? error)}); start a new import of the new content`,
      type: FailureType.InputChanged,
      nonRetryable: true,
    });
  }
  // Only the input's own errors: a missing reject-report or checkpoint file is the worker's problem, not the input's.
  const permanent =
    (err.code !== undefined && PERMANENT_FS_CODES.has(err.code) && err.path === description) ||
    (err.status !== undefined && PERMANENT_HTTP_STATUSES.has(err.status));
  if (!permanent) return error;
  const why = err.code === 'ENOENT' ? 'the file no longer exists' : err.code ? `${err.code}` : `HTTP ${err.status}`;
  const message = String(err.message ?? error).includes(description) ? String(err.message) : `${description}: ${String(err.message ?? error)}`;
  return ApplicationFailure.create({ message: `Cannot read input (${why}): ${message}`, type: FailureType.InputUnreadable, nonRetryable: true });
}

function isWithin(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** SHA-256 (first 128 bits, hex) of a chunk's bytes. */
async function chunkDigest(source: ByteSource, chunk: ChunkDescriptor): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of source.openRange(chunk.startByte, chunk.endByte)) hash.update(piece);
  return hash.digest('hex').slice(0, 32);
}
