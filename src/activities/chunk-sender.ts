/**
 * One chunk attempt (activity `processChunk`): reads the chunk's byte range, converts and checks every row, and in
 * send mode delivers the valid events in batches through the one Tracking API sender (src/segment/tracking-client.ts).
 *
 * What makes it safe to retry and to cancel:
 * - Resume: progress is saved after every acknowledged batch, in the heartbeat details and in a durable checkpoint
 *   file (src/io/chunk-checkpoint.ts); an attempt starts after whichever is further along, so a crash re-sends at
 *   most the batch that was in flight.
 * - Fencing: before every request the attempt checks that no later attempt has taken the chunk over
 *   (`ChunkSupersededError`), so an attempt Temporal replaced while it still ran stops sending.
 * - Pinning: the input must still be the version the job first read, and an approved send the very bytes that were
 *   validated (docs/input-pinning.md); otherwise `InputChanged`.
 * - Cancellation: noticed at a heartbeat, never in the middle of a request; the attempt ends with a CancelledFailure
 *   carrying what it really sent, so the job's totals stay true.
 *
 * Every dependency with I/O outside the report directory comes in through `ChunkSenderDeps`, so tests run the
 * whole algorithm with in-memory inputs and a local Segment double (test/unit/chunk-sender.test.ts).
 */
import { activityInfo, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, MissingSecretError } from '../config';
import type { ChunkResult } from '../contracts/import-job';
import { BatchBuffer, type BufferedEvent, type OutgoingBatch } from '../core/batch-builder';
import { displayLocation } from '../shared/location';
import { pacedBatchEvents } from '../shared/pacer';
import type { RejectedRow } from '../core/types';
import type { ByteSource } from '../io/byte-source';
import { ChunkCheckpointWriter, ChunkSupersededError, readChunkCheckpoint, type ChunkProgress } from '../io/chunk-checkpoint';
import { readRecordBatches } from '../io/record-reader';
import { chunkCheckpointPath, localRejectsPath, RejectWriter, serverRejectsPath } from '../io/reject-report';
import { TrackingFatalError, TrackingRetryableError, type TrackingClient } from '../segment/tracking-client';
import { mayBeDerivedMessageId } from '../core/message-id';
import { addCount, countEvent } from '../shared/import-stats';
import { chunkConverter, type ChunkWork } from './chunk-converter';

export type { ChunkWork };
import { ChunkPacing, heartbeatSliceMs } from './chunk-pacing';
import { asInputFailure, assertSameVersion, assertUnchanged, chunkDigest, inputSize } from './input-checks';
import { noteChunkStart, noteRowRejected, noteSegmentResponse } from './metrics';
import { FailureType } from '../contracts/failures';

/** What a chunk needs of the Tracking API client: delivering one batch's worth of events. */
export type TrackingSender = Pick<TrackingClient, 'send'>;

/** Opens an input by path or URL, pinned to a content version when the job knows it (src/io/byte-source.ts). */
export type OpenSource = (location: string, options?: { pinnedVersion?: string }) => ByteSource;

export interface ChunkSenderDeps {
  openSource: OpenSource;
  /** Refuses an input outside the worker's allow-lists (src/activities/input-checks.ts). */
  assertInputAllowed: (location: string) => Promise<void>;
  /** The Tracking API client for a source name; throws MissingSecretError / ConfigError when the worker lacks one. */
  tracking: (source: string) => TrackingSender;
  /** The clock that dates acknowledgements (`sentByDay`). */
  now: () => Date;
}

export class ChunkSender {
  private readonly info = activityInfo();
  private readonly ctx = Context.current();
  private readonly sending: boolean;
  /** Where this attempt stands: what it resumed from, then each acknowledged batch. */
  private checkpoint: ChunkProgress = { recordsAcked: 0, eventsSent: 0, batchesSent: 0, serverRejected: 0 };
  private checkpointAtStart: ChunkProgress = { ...this.checkpoint };
  private serverRejectedThisAttempt = 0;
  private result!: ChunkResult;

  constructor(
    private readonly deps: ChunkSenderDeps,
    private readonly input: ChunkWork,
    /** The job's report root (src/activities/input-checks.ts reportRoot): reject reports and the checkpoint file. */
    private readonly reportRoot: string,
  ) {
    this.sending = input.mode === 'send';
  }

  async run(): Promise<ChunkResult> {
    const { input, info } = this;
    const checkpointPath = chunkCheckpointPath(this.reportRoot, input.jobId, input.chunk.index);
    const checkpointKey = {
      runId: info.workflowExecution?.runId ?? '',
      activityId: info.activityId,
      startByte: input.chunk.startByte,
      endByte: input.chunk.endByte,
    };
    const resuming = await this.resume(checkpointPath, checkpointKey);
    const { source, digest } = await this.openInput();
    const tracking = this.sending ? this.openTracking() : undefined;
    const convertRecord = await chunkConverter(input);

    const localRejects = await RejectWriter.open(localRejectsPath(this.reportRoot, input.jobId, input.chunk.index), 'replace');
    const serverRejects = this.sending
      ? await RejectWriter.open(serverRejectsPath(this.reportRoot, input.jobId, input.chunk.index), resuming ? 'append' : 'truncate')
      : undefined;
    const durableCheckpoint = this.sending
      ? await ChunkCheckpointWriter.open(checkpointPath, checkpointKey, this.checkpoint, info.attempt)
      : undefined;

    const pacing = this.sending && input.rateLimit ? new ChunkPacing(input, info, this.ctx) : undefined;
    const batch = new BatchBuffer({
      maxBatchBytes: input.maxBatchBytes,
      // Under a rate cap a request carries about two seconds of this chunk's share, so no single request owes a long
      // pacing wait and events arrive as a steady stream (src/shared/pacer.ts).
      maxEventsPerBatch:
        pacing && input.rateLimit!.unit === 'events'
          ? pacedBatchEvents(input.maxEventsPerBatch, input.rateLimit!.perSecond)
          : input.maxEventsPerBatch,
    });
    const result: ChunkResult = (this.result = {
      index: input.chunk.index,
      rowsRead: 0,
      rowsRejected: 0,
      eventsSent: this.checkpoint.eventsSent,
      eventsValid: 0,
      batchesSent: this.checkpoint.batchesSent,
      bytes: input.chunk.endByte - input.chunk.startByte,
      typeCounts: {},
      serverFieldRows: 0,
      serverFields: [],
      sentByDay: { ...this.checkpoint.sentByDay },
      attempt: info.attempt,
    });
    const keepAlive = () => this.keepAlive();

    /** Sends one batch through the one sender (src/segment/tracking-client.ts); Temporal does the retrying. */
    const sendEvents = async (events: OutgoingBatch<BufferedEvent>): Promise<void> => {
      // The request itself is not aborted on cancellation (only bounded by its timeout): an aborted request may or may
      // not have reached Segment, and the chunk could not say truthfully what it sent. Heartbeats go on meanwhile, so
      // a slow answer is not mistaken for a dead worker.
      const ticker = setInterval(() => heartbeat(this.checkpoint), heartbeatSliceMs(info));
      try {
        await tracking!.send(events, {
          retryCount: info.attempt - 1,
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
            addCount(result.sentByDay, this.deps.now().toISOString().slice(0, 10), batch.length);
          },
          onRefused: async (event, reason) => {
            await serverRejects!.write({ line: event.line, field: '(message)', reason, raw: event.raw });
            await serverRejects!.flush();
            this.serverRejectedThisAttempt += 1;
          },
        });
      } catch (error) {
        throw this.sendFailure(error);
      } finally {
        clearInterval(ticker);
      }
    };

    const flush = async (recordsCovered: number) => {
      if (batch.size > 0) {
        await sendEvents(batch.batch());
        batch.clear();
      }
      const checkpoint = this.checkpoint;
      checkpoint.recordsAcked = recordsCovered;
      checkpoint.eventsSent = result.eventsSent;
      checkpoint.batchesSent = result.batchesSent;
      checkpoint.sentByDay = { ...result.sentByDay };
      checkpoint.serverRejected += this.serverRejectedThisAttempt;
      this.serverRejectedThisAttempt = 0;
      // Durable before the next batch goes out: a crash from here on re-sends at most that one batch.
      await durableCheckpoint?.save(checkpoint);
      heartbeat(checkpoint);
    };

    const rowMessageIds = new Map<string, number>();
    let broughtIdsLikeDerived = 0;
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
            // chunk would be counted as sent while never arriving, so it is reported instead. Only the ids rows bring are
            // kept: a derived id hashes the row's own line number (src/core/message-id.ts), so no other row of the chunk
            // derives it, and keeping every id for the whole chunk was most of what the worker's heap grew by. What this
            // no longer catches is a row bringing, after it, the id derived for an earlier row: it would have to carry the
            // UUIDv5 of this source's namespace, that row's line number and its exact text.
            // A derived id is looked up only once some row brought an id of its shape: most imports have none, and the
            // lookup cost a hash of every derived id.
            const messageId = converted!.event.messageId!;
            const derived = converted!.idDerived;
            const firstLine = rowMessageIds.size > 0 && (!derived || broughtIdsLikeDerived > 0) ? rowMessageIds.get(messageId) : undefined;
            if (firstLine !== undefined)
              reject = { line: record.line, field: 'messageId', reason: `duplicate of line ${firstLine}`, raw: record.raw };
            else if (!derived) {
              rowMessageIds.set(messageId, record.line);
              if (mayBeDerivedMessageId(messageId)) broughtIdsLikeDerived += 1;
            }
          }
          if (reject) {
            result.rowsRejected += 1;
            noteRowRejected(reject);
            await localRejects.write(reject);
            continue;
          }
          const { event, serialized, serverFields } = converted!;
          result.eventsValid += 1;
          countEvent(result, event, serverFields);
          if (!this.sending || position < this.checkpoint.recordsAcked) continue;
          if (!batch.tryAdd(serialized, record.line, record.raw)) {
            await flush(position);
            if (!batch.tryAdd(serialized, record.line, record.raw)) {
              // RowConverter already rejects events over the per-event limit, so this means limits are misconfigured.
              throw ApplicationFailure.nonRetryable(`Event on line ${record.line} does not fit an empty batch`, FailureType.BatchLimits);
            }
          }
        }
      }
      if (this.sending) await flush(input.chunk.records);
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
    result.rowsRejected += this.checkpoint.serverRejected;
    if (!this.sending) {
      result.eventsSent = 0;
      result.sentByDay = {};
    }
    return result;
  }

  /**
   * Progress comes from the heartbeat details or the durable checkpoint file, whichever is further along: the file is
   * written after every acknowledged batch, heartbeats reach the server only every few seconds. True when resuming.
   */
  private async resume(checkpointPath: string, checkpointKey: Parameters<typeof readChunkCheckpoint>[1]): Promise<boolean> {
    const fromHeartbeat = this.info.heartbeatDetails as ChunkProgress | undefined;
    const fromFile = this.sending ? await readChunkCheckpoint(checkpointPath, checkpointKey) : undefined;
    const saved = [fromHeartbeat, fromFile].filter((c): c is ChunkProgress => c !== undefined).sort((a, b) => b.recordsAcked - a.recordsAcked)[0];
    this.checkpoint = { ...this.checkpoint, ...(saved ?? {}) };
    this.checkpointAtStart = { ...this.checkpoint };
    noteChunkStart(saved !== undefined ? this.checkpointAtStart : undefined);
    return saved !== undefined;
  }

  /** Opens the input and checks it is still what the job read and (for an approved send) what was validated. */
  private async openInput(): Promise<{ source: ByteSource; digest?: string }> {
    const { input } = this;
    await this.deps.assertInputAllowed(input.file);
    const source = this.deps.openSource(input.file, { pinnedVersion: input.expectedFileVersion });
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
    return { source, digest };
  }

  private openTracking(): TrackingSender {
    try {
      return this.deps.tracking(this.input.source);
    } catch (error) {
      if (error instanceof MissingSecretError) throw ApplicationFailure.nonRetryable(error.message, FailureType.MissingSecret);
      if (error instanceof ConfigError) throw ApplicationFailure.nonRetryable(error.message, FailureType.InvalidConfig);
      throw error;
    }
  }

  /**
   * Heartbeats carry the checkpoint and bring back a cancellation request (the SDK delivers it in the heartbeat's
   * answer): a cancelled chunk stops at its next heartbeat, never in the middle of a request, so what it reports as
   * sent is exactly what Segment acknowledged.
   */
  private keepAlive(): void {
    heartbeat(this.checkpoint);
    if (this.ctx.cancellationSignal.aborted) throw this.stopped();
  }

  private stopped(): CancelledFailure {
    const result = this.result;
    const partial: ChunkResult = {
      ...result,
      rowsRejected: result.rowsRejected + this.checkpoint.serverRejected + this.serverRejectedThisAttempt,
      stopped: true,
    };
    return new CancelledFailure(`chunk ${this.input.chunk.index + 1} stopped: ${String(this.ctx.cancellationSignal.reason ?? 'cancelled')}`, [
      partial,
    ]);
  }

  /** What a failed delivery becomes for Temporal: retry (when), give up, or end this superseded attempt. */
  private sendFailure(error: unknown): unknown {
    if (error instanceof TrackingRetryableError) {
      return ApplicationFailure.create({
        message: error.message,
        type: FailureType.SegmentRetryable,
        nonRetryable: false,
        // Temporal's backoff grows with the attempt number, which counts every failure of this chunk. When this
        // attempt got batches through, Segment is not down: retry soon instead of waiting out a long backoff.
        nextRetryDelay: error.delayMs ?? (this.result.batchesSent > this.checkpointAtStart.batchesSent ? 1000 : undefined),
      });
    }
    if (error instanceof TrackingFatalError) return ApplicationFailure.nonRetryable(error.message, FailureType.SegmentFatal);
    // Temporal ignores the outcome of a replaced attempt; the failure only ends this one and says why.
    if (error instanceof ChunkSupersededError) return ApplicationFailure.retryable(error.message, FailureType.ChunkSuperseded);
    return error;
  }
}
