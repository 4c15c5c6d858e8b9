/**
 * segflow's own metrics from the activity side, recorded through the Temporal SDK's metric meter so they share
 * the SDK's Prometheus endpoint and naming (docs/operations.md lists every metric).
 *
 * Nearly everything is counted by one activity interceptor from a chunk's input and result, so the chunk
 * activity itself carries only two hooks (`noteRowRejected`, `noteSegmentResponse`). Counts of rows, events,
 * batches and bytes are added only when a chunk attempt *completes*, from its result: their sums equal the job's
 * status exactly, however many attempts failed before.
 *
 * Tags: source name, mode and job kind only, never a job id, file or row value (cardinality, privacy).
 */
import { Context, type Context as ActivityContext } from '@temporalio/activity';
import type { MetricCounter, MetricMeter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ChunkResult, ProcessChunkInput } from '../contracts/import-job';

export type RejectClass = 'unreadable_row' | 'invalid_event' | 'refused_by_segment';

/** What one chunk attempt saw on the way; turned into counters when it ends. */
interface AttemptTally {
  localRejects: Record<Exclude<RejectClass, 'refused_by_segment'>, number>;
  batchesAccepted: number;
  /** Where the attempt resumed from (noteChunkStart); undefined: from the chunk's start. */
  resumedFrom?: { batchesSent: number };
  attemptKey: string;
  resumes: MetricCounter;
  resent: MetricCounter;
  responses: MetricCounter;
  rateLimitWaits: MetricCounter;
}

const tallies = new WeakMap<ActivityContext, AttemptTally>();

/**
 * Batches Segment accepted in failed attempts of a chunk, by workflow run and activity id, until the next
 * attempt on this worker says how many of them its checkpoint covers: the rest are sent again.
 */
const acceptedByFailedAttempt = new Map<string, number>();
const MAX_REMEMBERED_ATTEMPTS = 10_000;

function currentTally(): AttemptTally | undefined {
  try {
    return tallies.get(Context.current());
  } catch {
    return undefined; // not inside an activity (unit tests of the chunk path)
  }
}

/**
 * Hook: the chunk activity rejected a row itself (before Segment saw it). A row it could not read at all (bad
 * JSON line, ragged CSV record, not UTF-8, too long) is `unreadable_row`; a readable row that is no valid event
 * (its field names the problem) is `invalid_event`.
 */
export function noteRowRejected(reject: { field: string }): void {
  const tally = currentTally();
  if (tally) tally.localRejects[reject.field === '(row)' || reject.field === '(line)' ? 'unreadable_row' : 'invalid_event'] += 1;
}

/**
 * Hook: the chunk attempt knows where it resumes from (its heartbeat details or its checkpoint file). Batches a
 * failed attempt on this worker got accepted beyond that point are sent again.
 */
export function noteChunkStart(resumedFrom: { batchesSent: number } | undefined): void {
  const tally = currentTally();
  if (!tally) return;
  tally.resumedFrom = resumedFrom;
  if (resumedFrom) tally.resumes.add(1);
  const acceptedBefore = acceptedByFailedAttempt.get(tally.attemptKey);
  if (acceptedBefore !== undefined) tally.resent.add(Math.max(0, acceptedBefore - (resumedFrom?.batchesSent ?? 0)));
  acceptedByFailedAttempt.delete(tally.attemptKey);
}

/** Hook: one Tracking API response (or network error), counted as it happens. */
export function noteSegmentResponse(outcome: { status?: number; networkError?: string }): void {
  const tally = currentTally();
  if (!tally) return;
  const statusClass = outcome.status === undefined ? 'network_error' : `${Math.floor(outcome.status / 100)}xx`;
  tally.responses.add(1, { status_class: statusClass });
  if (outcome.status === 429) tally.rateLimitWaits.add(1);
  if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) tally.batchesAccepted += 1;
}

function isChunkInput(value: unknown): value is ProcessChunkInput {
  return typeof value === 'object' && value !== null && 'chunk' in value && 'mode' in value && 'source' in value;
}

/** The worker's activity interceptor: metrics and log attributes of chunk activities. */
export const chunkMetricsInterceptor: ActivityInterceptorsFactory = (ctx) => {
  const input = ctx.info.activityType === 'processChunk' ? ctx.info : undefined;
  let chunkInput: ProcessChunkInput | undefined;
  return {
    inbound: {
      async execute(call, next) {
        if (!input || !isChunkInput(call.args[0])) return next(call);
        chunkInput = call.args[0];
        const tags = { source: chunkInput.source, job_kind: 'import', mode: chunkInput.mode };
        const meter = ctx.metricMeter.withTags(tags);
        const tally: AttemptTally = {
          localRejects: { unreadable_row: 0, invalid_event: 0 },
          batchesAccepted: 0,
          attemptKey: `${ctx.info.workflowExecution?.runId ?? ''}/${ctx.info.activityId}`,
          resumes: meter.createCounter('segflow_chunk_resumes', 'attempts', 'Chunk attempts that resumed from a checkpoint'),
          resent: meter.createCounter('segflow_batches_resent', 'batches', 'Batches sent again after a resume (Segment dedupes them by messageId)'),
          responses: meter.createCounter('segflow_segment_responses', 'responses', 'Tracking API responses by status class'),
          rateLimitWaits: meter.createCounter('segflow_rate_limit_waits', 'waits', 'Tracking API 429 answers: the chunk waits and retries'),
        };
        tallies.set(ctx, tally);
        const started = Date.now();
        const duration = meter.createHistogram('segflow_chunk_duration', 'float', 'seconds', 'Wall time of one chunk attempt');
        try {
          const result = (await next(call)) as ChunkResult;
          duration.record((Date.now() - started) / 1000, { outcome: 'completed' });
          recordChunkResult(meter, chunkInput, result, tally);
          return result;
        } catch (error) {
          duration.record((Date.now() - started) / 1000, { outcome: 'failed' });
          meter.createCounter('segflow_chunks', 'chunks', 'Chunk attempts by outcome').add(1, { outcome: 'failed' });
          if (chunkInput.mode === 'send') {
            // Remembered for the next attempt (when it lands on this worker) to count what it sends again.
            const key = tally.attemptKey;
            const previous = acceptedByFailedAttempt.get(key) ?? 0;
            if (acceptedByFailedAttempt.size >= MAX_REMEMBERED_ATTEMPTS) acceptedByFailedAttempt.clear();
            acceptedByFailedAttempt.set(key, Math.max(previous, (tally.resumedFrom?.batchesSent ?? 0) + tally.batchesAccepted));
          }
          throw error;
        } finally {
          tallies.delete(ctx);
        }
      },
    },
    outbound: {
      getLogAttributes(attributes, next) {
        // Job id, chunk and attempt on every log line of a chunk activity (the SDK adds run id and attempt too).
        if (!chunkInput) return next(attributes);
        return next({ ...attributes, jobId: chunkInput.jobId, chunk: chunkInput.chunk.index, mode: chunkInput.mode });
      },
    },
  };
};

function recordChunkResult(meter: MetricMeter, input: ProcessChunkInput, result: ChunkResult, tally: AttemptTally): void {
  meter.createCounter('segflow_chunks', 'chunks', 'Chunk attempts by outcome').add(1, { outcome: 'completed' });
  meter.createCounter('segflow_rows_read', 'rows', 'Input rows read by completed chunks').add(result.rowsRead);
  const rejects = meter.createCounter('segflow_rows_rejected', 'rows', 'Rows rejected by completed chunks, by reason class');
  const local = tally.localRejects.unreadable_row + tally.localRejects.invalid_event;
  rejects.add(tally.localRejects.unreadable_row, { reason_class: 'unreadable_row' });
  rejects.add(tally.localRejects.invalid_event, { reason_class: 'invalid_event' });
  // Segment's refusals include those of earlier attempts, which the chunk's checkpoint carried over.
  rejects.add(Math.max(0, result.rowsRejected - local), { reason_class: 'refused_by_segment' });
  meter.createCounter('segflow_input_bytes', 'bytes', 'Input bytes covered by completed chunks').add(result.bytes);
  if (input.mode === 'send') {
    meter.createCounter('segflow_events_sent', 'events', 'Events Segment accepted, counted by completed chunks').add(result.eventsSent);
    meter.createCounter('segflow_batches_sent', 'batches', 'Batches Segment accepted, counted by completed chunks').add(result.batchesSent);
  }
}
