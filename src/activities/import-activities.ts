/**
 * Import activities: thin adapters from the pure core (row conversion, batching, retry policy) to files and
 * HTTP. They take references (file, byte range) and return counts; event data never leaves the worker.
 */
import { activityInfo, CancelledFailure, Context, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { basename, dirname, join, resolve } from 'node:path';
import { rm } from 'node:fs/promises';
import { ConfigError, resolveWriteKey, trackingApiRoot, MissingSecretError } from '../config';
import { BatchBuilder } from '../core/batch-builder';
import { compileCsvHeader } from '../core/csv-mapping';
import { contentHash } from '../core/plan-hash';
import { messageIdNamespace } from '../core/message-id';
import { Pacer } from '../core/pacer';
import { RowConverter } from '../core/row-to-message';
import type { InputFormat, RejectedRow } from '../core/types';
import { openByteSource } from '../io/byte-source';
import { planChunks as planFileChunks, readCsvHeader, initialCursor } from '../io/chunk-planner';
import { ChunkCheckpointWriter, readChunkCheckpoint } from '../io/chunk-checkpoint';
import { expandInputSet, InputSetError, type InputEntry, type InputSetKind } from '../io/input-set';
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
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../segment/tracking-client';
import { noteRowRejected, noteSegmentResponse } from './metrics';
import type { ChunkDescriptor, PlannerCursor } from '../workflows/import-contract';

export interface InspectInputResult {
  fileSize: number;
  csvColumns?: string[];
  start: PlannerCursor;
}

export interface PlanChunksInput {
  file: string;
  format: InputFormat;
  from: PlannerCursor;
  firstIndex: number;
  maxChunks: number;
  targetChunkBytes: number;
  maxRecordsPerChunk: number;
  expectedFileSize: number;
}

export interface ProcessChunkInput {
  jobId: string;
  file: string;
  format: InputFormat;
  csvColumns?: string[];
  chunk: ChunkDescriptor;
  expectedFileSize: number;
  source: string;
  idNamespace: string;
  /** `validate`: parse and check rows, send nothing (dry runs and the approval preview). */
  mode: 'send' | 'validate';
  allowMissingTimestamp: boolean;
  maxEventsPerBatch: number;
  maxBatchBytes: number;
  maxEventBytes: number;
  /** This chunk's share of the job's rate cap. */
  rateLimit?: { perSecond: number; unit: 'events' | 'requests' };
  reportDir?: string;
  /** The job's start: the "not in the future" rule judges every row against it, so retries decide alike. */
  referenceTime: string;
  /** Top-level fields / CSV columns the importer skips (`--ignore-column`). */
  ignoreColumns?: string[];
  /** For a staged input: its map, to name each row's file and line (src/io/staging.ts). */
  fileMap?: string;
  /** Many-file jobs derive messageIds per file (namespace of the file's name, its own line numbers). */
  perFileIds?: boolean;
}

export interface StageInputInput {
  jobId: string;
  reportDir?: string;
  kind: 'file' | InputSetKind;
  location: string;
  format: InputFormat;
  /** The content digest the CLI put in the job id (src/io/staging.ts inputSetDigest). */
  digest: string;
}

export interface StagedInput {
  /** The plain staged file every later activity reads, and its map. */
  file: string;
  map: string;
  files: number;
}

export interface ChunkResult {
  index: number;
  rowsRead: number;
  rowsRejected: number;
  eventsSent: number;
  eventsValid: number;
  batchesSent: number;
  bytes: number;
  typeCounts: Record<string, number>;
  minTimestamp?: string;
  maxTimestamp?: string;
  /** Valid rows that carried server-set fields (an export's receivedAt, sentAt, ...), which were dropped. */
  serverFieldRows: number;
  /** Which server-set fields those rows had. */
  serverFields: string[];
  /** Events Segment acknowledged, per UTC day of the acknowledgement (what its API-call usage counts). */
  sentByDay: Record<string, number>;
  attempt: number;
}

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

export function createImportActivities({ env }: ImportActivityDeps) {
  const reportRoot = (explicit?: string) => resolve(explicit ?? env.SEGFLOW_REPORT_DIR ?? 'segflow-reports');

  async function inspectInput(input: { file: string; format: InputFormat; ignoreColumns?: string[] }): Promise<InspectInputResult> {
    const source = openByteSource(input.file);
    let fileSize: number;
    try {
      fileSize = await source.size();
    } catch (error) {
      throw ApplicationFailure.nonRetryable(`Cannot read input ${input.file}: ${(error as Error).message}`, 'InputUnreadable');
    }
    if (input.format === 'ndjson') return { fileSize, start: initialCursor('ndjson') };
    let header;
    try {
      header = await readCsvHeader(source);
    } catch (error) {
      throw ApplicationFailure.nonRetryable(`${input.file}: ${(error as Error).message}`, 'InvalidCsvHeader');
    }
    const compiled = compileCsvHeader(header.columns, { ignore: input.ignoreColumns });
    if ('error' in compiled) {
      throw ApplicationFailure.nonRetryable(`${input.file}, line 1 (header): ${compiled.error}`, 'InvalidCsvHeader');
    }
    return { fileSize, csvColumns: header.columns, start: initialCursor('csv', header) };
  }

  async function planChunks(input: PlanChunksInput) {
    const source = openByteSource(input.file);
    const result = await planFileChunks(source, {
      format: input.format,
      from: input.from,
      firstIndex: input.firstIndex,
      maxChunks: input.maxChunks,
      targetChunkBytes: input.targetChunkBytes,
      maxRecordsPerChunk: input.maxRecordsPerChunk,
    });
    assertUnchanged(input.file, input.expectedFileSize, result.fileSize);
    return { chunks: result.chunks, next: result.next };
  }

  async function processChunk(input: ProcessChunkInput): Promise<ChunkResult> {
    const info = activityInfo();
    const ctx = Context.current();
    const root = reportRoot(input.reportDir);
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
    const source = openByteSource(input.file);
    assertUnchanged(input.file, input.expectedFileSize, await source.size());

    const sending = input.mode === 'send';
    let client: TrackingClient | undefined;
    if (sending) {
      try {
        client = new TrackingClient({ apiRoot: trackingApiRoot(env), writeKey: resolveWriteKey(input.source, env) });
      } catch (error) {
        if (error instanceof MissingSecretError) throw ApplicationFailure.nonRetryable(error.message, 'MissingWriteKey');
        if (error instanceof ConfigError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidConfig');
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
    const durableCheckpoint = sending ? await ChunkCheckpointWriter.open(checkpointPath, checkpointKey) : undefined;

    const pacer = input.rateLimit ? new Pacer(input.rateLimit.perSecond) : undefined;
    const builder = new BatchBuilder({ maxBatchBytes: input.maxBatchBytes, maxEventsPerBatch: input.maxEventsPerBatch });
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

    const throwIfCancelled = () => {
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure('import chunk cancelled');
    };

    /** Sends one batch through the one sender (src/segment/tracking-client.ts); Temporal does the retrying. */
    const sendEvents = async (events: PendingEvent[]): Promise<void> => {
      try {
        await client!.send(events, {
          signal: ctx.cancellationSignal,
          retryCount,
          onResponse: noteSegmentResponse,
          beforePost: async (batch) => {
            if (!pacer) return;
            const cost = input.rateLimit!.unit === 'events' ? batch.length : 1;
            const waitMs = pacer.reserve(cost, Date.now());
            if (waitMs > 0) await sleep(waitMs);
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
            type: 'SegmentRetryable',
            nonRetryable: false,
            // Temporal's backoff grows with the attempt number, which counts every failure of this chunk. When this
            // attempt got batches through, Segment is not down: retry soon instead of waiting out a long backoff.
            nextRetryDelay: error.delayMs ?? (result.batchesSent > checkpointAtStart.batchesSent ? 1000 : undefined),
          });
        }
        if (error instanceof TrackingFatalError) throw ApplicationFailure.nonRetryable(error.message, 'SegmentFatal');
        throw error;
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
      let position = 0;
      for await (const records of readRecordBatches(source, input.chunk, input.format, { expectedFields: input.csvColumns?.length })) {
        for (const record of records) {
          position = record.recordIndex - input.chunk.firstRecord;
          result.rowsRead += 1;
          if (position % 2000 === 0) {
            heartbeat(checkpoint);
            throwIfCancelled();
          }
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
              throw ApplicationFailure.nonRetryable(`Event on line ${record.line} does not fit an empty batch`, 'BatchLimits');
            }
          }
          pending.push({ line: record.line, raw: record.raw, serialized });
        }
      }
      if (sending) await flush(input.chunk.records);
      await localRejects.close();
      await serverRejects?.close();
    } catch (error) {
      await localRejects.abandon();
      await serverRejects?.abandon();
      throw error;
    } finally {
      await durableCheckpoint?.close();
    }
    // Segment's refusals are counted by the checkpoint (earlier attempts) and this attempt's own.
    result.rowsRejected += checkpoint.serverRejected;
    if (!sending) {
      result.eventsSent = 0;
      result.sentByDay = {};
    }
    return result;
  }

  async function finalizeReport(input: {
    jobId: string;
    reportDir?: string;
    format?: InputFormat;
    csvColumns?: string[];
    /** A staged input's map: report entries then carry each row's own line (and file, with `namedFiles`). */
    stagedMap?: string;
    namedFiles?: boolean;
  }): Promise<{ path: string; rejects: number; dir: string }> {
    const root = reportRoot(input.reportDir);
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
    const dir = join(jobReportDir(reportRoot(input.reportDir), input.jobId), 'staged');
    const stagedPath = join(dir, `input.${input.format}`);
    const mapPath = join(dir, 'files.ndjson');
    let entries: InputEntry[];
    try {
      entries =
        input.kind === 'file'
          ? [{ location: input.location, name: basename(displayName(input.location)), gzip: /\.gz$/i.test(displayName(input.location)) }]
          : await expandInputSet(input.kind, input.location, input.format);
    } catch (error) {
      if (error instanceof InputSetError) throw ApplicationFailure.nonRetryable(error.message, 'InputInvalid');
      throw error;
    }
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
          'InputChanged',
        );
      }
      return { file: stagedPath, map: mapPath, files: staged.files.length };
    } catch (error) {
      if (error instanceof StagingInputError) throw ApplicationFailure.nonRetryable(error.message, 'InputInvalid');
      if (error instanceof StagingInputChangedError) throw ApplicationFailure.nonRetryable(error.message, 'InputChanged');
      throw error;
    } finally {
      clearInterval(timer);
    }
  }

  /** The approval gate binds a decision to this hash; workflow code has no crypto, so it is computed here. */
  async function hashImportPlan(plan: unknown): Promise<string> {
    return contentHash(plan);
  }

  return { inspectInput, planChunks, processChunk, finalizeReport, hashImportPlan, stageInput };
}

function displayName(location: string): string {
  return /^https?:\/\//i.test(location) ? new URL(location).pathname : location;
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

export type ImportActivities = ReturnType<typeof createImportActivities>;

function assertUnchanged(file: string, expected: number, actual: number): void {
  if (expected !== actual) {
    throw ApplicationFailure.nonRetryable(
      `${file} changed while being imported (size ${expected} -> ${actual} bytes); start a new import of the new content`,
      'InputChanged',
    );
  }
}
