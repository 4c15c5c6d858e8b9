/**
 * The import workflow's public surface: input, status, and the messages it accepts.
 * Shared by the workflow (sandboxed, deterministic), the client and the CLI, so it imports nothing from Node.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { InputFormat } from '../core/types';
import type { ChunkDescriptor, PlannerCursor } from '../io/chunk-planner';

export type { ChunkDescriptor, PlannerCursor };

export interface ImportOptions {
  /** Path (absolute, as the workers see it) or URL of the input. */
  file: string;
  format: InputFormat;
  /** Source *name*; the worker maps it to a write key from its environment (never the key itself). */
  source: string;
  /** Namespace for derived messageIds; defaults to the source name. */
  idNamespace: string;
  dryRun: boolean;
  requireApproval: boolean;
  allowMissingTimestamp: boolean;
  /** Chunk activities in flight at once. */
  concurrency: number;
  maxEventsPerBatch: number;
  maxBatchBytes: number;
  targetChunkBytes: number;
  maxRecordsPerChunk: number;
  /** Fail the job once more rows than this are rejected. */
  maxRejects?: number;
  /** Fail the job once the reject rate exceeds this fraction (checked after `minRowsForRejectRate` rows). */
  maxRejectRate?: number;
  /** Cap on the whole job's throughput, shared across every worker that runs its chunks. */
  rateLimit?: { perSecond: number; unit: 'events' | 'requests' };
  /** Directory (as the workers see it) for reject reports; defaults to the worker's SEGFLOW_REPORT_DIR. */
  reportDir?: string;
  /** Chunks started per workflow run before continue-as-new keeps history bounded. */
  chunksPerRun: number;
  approvalTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /**
   * Set for `.gz` and many-file inputs (`file` is then the .gz file, the directory, the glob or the manifest), which
   * are staged to one plain file first; `digest` is the content digest of every file that the job id was built from.
   */
  inputSet?: { kind: 'file' | 'directory' | 'glob' | 'manifest'; digest: string; files: number };
  /** Top-level NDJSON fields / CSV columns to skip (`--ignore-column`, e.g. the reason column of `segflow rejects`). */
  ignoreColumns?: string[];
  /** Whether the SegflowKind/State/Source search attributes exist on the namespace (checked by the client). */
  searchAttributes: boolean;
}

export interface ImportJobInput {
  jobId: string;
  options: ImportOptions;
  /** Set only by continue-as-new. */
  carried?: CarriedImportState;
}

export type JobState =
  | 'planning'
  | 'validating'
  | 'running'
  | 'paused'
  | 'awaiting_approval'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'rejected'
  | 'expired'
  // Closed by Temporal rather than by the workflow (`temporal workflow terminate`, an execution timeout).
  | 'terminated'
  | 'timed_out';

export interface ImportTotals {
  rowsRead: number;
  rowsRejected: number;
  eventsSent: number;
  /** Valid events of a dry run or a validation pass: what would be sent. */
  eventsValid: number;
  batchesSent: number;
  bytesDone: number;
  chunksDone: number;
  typeCounts: Record<string, number>;
  minTimestamp?: string;
  maxTimestamp?: string;
  /** Rows that carried server-set fields (dropped, not sent); absent in totals carried from older runs. */
  serverFieldRows?: number;
  serverFields?: string[];
  /** Events acknowledged per UTC day of sending (a few keys per job, never rows); absent in older runs. */
  sentByDay?: Record<string, number>;
}

/** Everything a run hands to the next one at continue-as-new. */
export interface CarriedImportState {
  phase: 'validate' | 'send';
  fileSize: number;
  /** The input's content version when the job inspected it (absent in older runs and for sources that cannot tell). */
  fileVersion?: string;
  csvColumns?: string[];
  /** Where data starts (after a CSV header or a BOM): a send pass after validation starts over from here. */
  dataStart: PlannerCursor;
  cursor: PlannerCursor | null;
  nextChunkIndex: number;
  pending: ChunkDescriptor[];
  totals: ImportTotals;
  validation?: ImportTotals;
  /** Per-chunk digests of the validation pass, by chunk index: the approved plan binds them, the send pass checks them. */
  chunkDigests?: Record<number, string>;
  paused: boolean;
  startedAt: string;
  runs: number;
  approval?: ApprovalRecord;
  /** A staged .gz / many-file input: the plain file activities read and its file map (src/io/staging.ts). */
  staged?: { file: string; map: string; files: number };
  /** The write-key check made before the send pass (once per job). */
  delivery?: DeliveryCheck;
}

export interface ApprovalRecord {
  planHash: string;
  by: string;
  comment?: string;
  at: string;
}

/** What `segflow status --json` prints. Field names are a stable contract. */
export interface ImportStatus {
  jobId: string;
  kind: 'import';
  state: JobState;
  dryRun: boolean;
  source: string;
  file: string;
  rows: { read: number; rejected: number; valid: number };
  events: { sent: number; wouldSend: number };
  batches: { sent: number };
  chunks: {
    done: number;
    inFlight: number;
    planned: number;
    /** Chunks whose activity failed at least once and is being retried (from the workflow's pending activities). */
    retrying?: ChunkRetry[];
  };
  bytes: { done: number; total: number };
  typeCounts: Record<string, number>;
  /** Rows of a Segment export that carried server-set fields (receivedAt, sentAt, ...): dropped, never sent. */
  serverSetFields: { rows: number; fields: string[] };
  /** Events Segment acknowledged per UTC day they were sent (`segflow verify` compares them with Segment's usage). */
  sentByDay: Record<string, number>;
  timeRange?: { min: string; max: string };
  rejectReport?: string;
  startedAt: string;
  updatedAt: string;
  runs: number;
  approval?: ApprovalRecord;
  /**
   * Whether Segment will keep what it acknowledges: `confirmed` when the write key belongs to an enabled source
   * (checked with SEGMENT_API_TOKEN), else why that could not be checked; `segflow verify` confirms afterwards.
   */
  delivery?: DeliveryCheck;
  error?: string;
}

/** Whether the write key was checked against the workspace's sources before sending (activity confirmWriteKey). */
export type DeliveryCheck = { confirmed: true; sourceId: string; sourceName: string } | { confirmed: false; reason: string };

/** A chunk activity being retried, as `segflow status` shows it. */
export interface ChunkRetry {
  activityId: string;
  /** Summary of the activity (which chunk, which lines). */
  chunk?: string;
  attempt: number;
  /** The last attempt's failure message; undefined while the first attempt runs. */
  lastFailure?: string;
  nextAttemptAt?: string;
}

/** A sending chunk's share of the job's rate cap (query `rateShare`, asked by the chunk activities). */
export interface RateShare {
  perSecond: number;
  /** Chunks sending now, the asking one included. */
  inFlight: number;
}

export const pauseSignal = defineSignal<[{ by?: string; reason?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');
export const statusQuery = defineQuery<ImportStatus>('status');
export const rateShareQuery = defineQuery<RateShare | undefined>('rateShare');
