/**
 * The import job's contract: input, carried state, status, the messages it accepts, and the activities it calls
 * (their inputs and results). Shared by the workflow (sandboxed, deterministic), the activities, the client and the
 * CLI, so it imports nothing from Node (test/unit/sandbox-boundary.test.ts checks).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ChunkCounts, TotalCounts } from '../shared/import-stats';
import type { JobState } from './job-state';

export type InputFormat = 'csv' | 'ndjson';

/** Where planning resumes: the next byte to scan, the 1-based physical line at that byte, the 0-based data-record index. */
export interface PlannerCursor {
  byte: number;
  line: number;
  record: number;
}

/**
 * A byte range [startByte, endByte) that starts and ends on record boundaries (src/io/chunk-planner.ts cuts them).
 * Consecutive chunks are contiguous, so together they cover every byte after the header. `records` excludes blank
 * lines; `lines` includes them.
 */
export interface ChunkDescriptor {
  index: number;
  startByte: number;
  endByte: number;
  firstLine: number;
  firstRecord: number;
  records: number;
  lines: number;
}

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
  /**
   * Fail the job once the reject rate exceeds this fraction. Checked only once 100 rows were read (a constant in
   * src/workflows/import-workflow.ts, not an option), so a few early rejects do not end a job.
   */
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

/** A job's running totals; the fields and how they add up are in src/shared/import-stats.ts. */
export type ImportTotals = TotalCounts;

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
  /**
   * A staged .gz / many-file input (src/io/staging.ts): activities derive the staged file and its map from the job id
   * (src/io/reject-report.ts stagedInputDir). `file` and `map` were carried by older runs; they are never read.
   */
  staged?: { files: number; file?: string; map?: string };
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
/** The import kind's answer to the `status` query (src/contracts/job-status.ts). */
export const importStatusQuery = defineQuery<ImportStatus>('status');
export const rateShareQuery = defineQuery<RateShare | undefined>('rateShare');

// ---------------------------------------------------------------------------------------------
// Activities (src/activities/import-activities.ts implements them): references and counts, never rows
// ---------------------------------------------------------------------------------------------

/**
 * Where an activity reads: the input itself, or with `staged` the job's staged copy, whose path the worker derives from
 * the job id and report directory (never a path from the workflow: anyone can start one).
 */
export interface InputRef {
  file: string;
  format: InputFormat;
  /** Required with `staged` (absent in runs recorded before staged paths were derived). */
  jobId?: string;
  reportDir?: string;
  staged?: true;
}

export interface InspectInputInput extends InputRef {
  ignoreColumns?: string[];
}

export interface InspectInputResult {
  fileSize: number;
  /** The input's content version (src/io/byte-source.ts `version()`), when the source can tell; absent in older runs. */
  fileVersion?: string;
  csvColumns?: string[];
  start: PlannerCursor;
}

export interface PlanChunksInput extends InputRef {
  from: PlannerCursor;
  firstIndex: number;
  maxChunks: number;
  targetChunkBytes: number;
  maxRecordsPerChunk: number;
  expectedFileSize: number;
  expectedFileVersion?: string;
}

export interface ProcessChunkInput {
  jobId: string;
  file: string;
  format: InputFormat;
  csvColumns?: string[];
  chunk: ChunkDescriptor;
  expectedFileSize: number;
  /** What the job recorded when it inspected the input: every read is pinned to it (docs/input-pinning.md). */
  expectedFileVersion?: string;
  source: string;
  idNamespace: string;
  /**
   * The chunk's digest from the validation pass (an approved import): the chunk verifies it before its first send,
   * so what is sent is exactly what was validated and approved.
   */
  expectedDigest?: string;
  /** `validate`: parse and check rows, send nothing (dry runs and the approval preview). */
  mode: 'send' | 'validate';
  allowMissingTimestamp: boolean;
  maxEventsPerBatch: number;
  maxBatchBytes: number;
  maxEventBytes: number;
  /**
   * This chunk's share of the job's rate cap when it started. The chunk asks the workflow for its current share
   * (query `rateShare`) while it runs, since the share grows and shrinks with the chunks in flight.
   */
  rateLimit?: { perSecond: number; unit: 'events' | 'requests' };
  /** The job's whole cap: the share never exceeds it, and a failed `rateShare` query falls back to cap ÷ concurrency. */
  jobRate?: { perSecond: number; concurrency: number };
  reportDir?: string;
  /** The job's start: the "not in the future" rule judges every row against it, so retries decide alike. */
  referenceTime: string;
  /** Top-level fields / CSV columns the importer skips (`--ignore-column`). */
  ignoreColumns?: string[];
  /** A staged input: the chunk reads the job's staged copy and its map (to name each row's file and line). */
  staged?: true;
  /**
   * The plan hash the job's approval named, on sends of an approved import: a worker whose SEGFLOW_REQUIRE_APPROVAL
   * covers imports refuses a send without it (src/config.ts).
   */
  approvedPlanHash?: string;
  /** Many-file jobs derive messageIds per file (namespace of the file's name, its own line numbers). */
  perFileIds?: boolean;
}

export interface StageInputInput {
  jobId: string;
  reportDir?: string;
  kind: 'file' | 'directory' | 'glob' | 'manifest';
  location: string;
  format: InputFormat;
  /** The content digest the CLI put in the job id (src/io/staging.ts inputSetDigest). */
  digest: string;
}

/** Runs recorded before staged paths were derived on the worker also hold the staged `file` and `map` here. */
export interface StagedInput {
  files: number;
}

/** What one chunk attempt reports: its counts (src/shared/import-stats.ts) and which chunk and attempt it was. */
export interface ChunkResult extends ChunkCounts {
  index: number;
  /** Validation pass: a digest of the chunk's bytes, which the approved plan carries (see expectedDigest). */
  digest?: string;
  attempt: number;
}

export interface PlannedChunks {
  chunks: ChunkDescriptor[];
  /** null once the chunks reach the end of the file. */
  next: PlannerCursor | null;
}

export interface FinalizeReportInput {
  jobId: string;
  reportDir?: string;
  format?: InputFormat;
  csvColumns?: string[];
  /**
   * A staged input: report entries carry each row's own line (and file, with `namedFiles`), read from the staged map.
   * The job's staged directory is removed in any case.
   */
  staged?: true;
  namedFiles?: boolean;
}

export interface FinalizedReport {
  path: string;
  rejects: number;
  dir: string;
}

export interface ImportActivities {
  inspectInput(input: InspectInputInput): Promise<InspectInputResult>;
  planChunks(input: PlanChunksInput): Promise<PlannedChunks>;
  processChunk(input: ProcessChunkInput): Promise<ChunkResult>;
  finalizeReport(input: FinalizeReportInput): Promise<FinalizedReport>;
  /** The approval gate binds a decision to this hash; workflow code has no crypto, so an activity computes it. */
  hashImportPlan(plan: unknown): Promise<string>;
  stageInput(input: StageInputInput): Promise<StagedInput>;
  confirmWriteKey(input: { source: string }): Promise<DeliveryCheck>;
  /** The worker's SEGFLOW_REQUIRE_APPROVAL (workflow code cannot read the environment). */
  workerApprovalPolicy(): Promise<WorkerApprovalPolicy>;
}

/** What a worker's SEGFLOW_REQUIRE_APPROVAL makes mandatory (src/config.ts requiredApprovals). */
export interface WorkerApprovalPolicy {
  imports: boolean;
}
