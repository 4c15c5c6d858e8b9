/**
 * Failure types: the ApplicationFailure `type` each failure carries. They are public (the Temporal UI, `temporal
 * workflow describe` and `segflow status` show them, and retry options list them), so the throwers, the retry
 * options and the tests all use these constants, and a name never changes once released.
 */

export const FailureType = {
  // The import job (src/workflows/import-workflow.ts) and its activities (src/activities/import-activities.ts).
  /** The job failed; the details hold its last status, the cause the failure that ended it. */
  ImportFailed: 'ImportFailed',
  TooManyRejects: 'TooManyRejects',
  InvalidJobId: 'InvalidJobId',
  /**
   * A workflow or activity input that breaks a rule of src/contracts/job-input.ts (a job started around the CLI):
   * the job fails at once, naming the field.
   */
  InvalidJobInput: 'InvalidJobInput',
  /** A send on a worker whose SEGFLOW_REQUIRE_APPROVAL covers imports, without an approved plan (src/config.ts). */
  ApprovalRequired: 'ApprovalRequired',
  /** A --report-dir outside the worker's SEGFLOW_REPORT_DIR. */
  InvalidReportDir: 'InvalidReportDir',
  InputNotAllowed: 'InputNotAllowed',
  InputUnreadable: 'InputUnreadable',
  InvalidCsvHeader: 'InvalidCsvHeader',
  /** The input's content is not what the job inspected, validated or staged (docs/input-pinning.md). */
  InputChanged: 'InputChanged',
  InputInvalid: 'InputInvalid',
  /** Staging a .gz or many-file input met a full disk or quota (ENOSPC, EDQUOT) in the report directory (src/io/staging.ts). */
  StagingDiskFull: 'StagingDiskFull',
  /** A write key or API token the worker's environment lacks (src/config.ts MissingSecretError), for both job kinds. */
  MissingSecret: 'MissingSecret',
  InvalidConfig: 'InvalidConfig',
  WriteKeyNotConfirmed: 'WriteKeyNotConfirmed',
  SegmentRetryable: 'SegmentRetryable',
  SegmentFatal: 'SegmentFatal',
  BatchLimits: 'BatchLimits',
  /** A chunk attempt Temporal replaced while it still ran (src/io/chunk-checkpoint.ts); retryable. */
  ChunkSuperseded: 'ChunkSuperseded',

  // The workspace job (src/workflows/workspace-job.ts) and its activities (src/activities/workspace-activities.ts).
  /** The job stopped at a failed item; the details hold the full result. */
  WorkspaceJobFailed: 'WorkspaceJobFailed',
  InvalidJobSpec: 'InvalidJobSpec',
  PlanDrift: 'PlanDrift',
  GuardRailRefused: 'GuardRailRefused',
  TrackingRequestFailed: 'TrackingRequestFailed',
  // Public API errors surface under their class name (src/segment/public-api-failure.ts).
  PublicApiError: 'PublicApiError',
  PublicApiAuthError: 'PublicApiAuthError',
  PublicApiNotFoundError: 'PublicApiNotFoundError',
  PublicApiValidationError: 'PublicApiValidationError',
  PublicApiRateLimitError: 'PublicApiRateLimitError',
  PublicApiServerError: 'PublicApiServerError',
  PublicApiRequestError: 'PublicApiRequestError',
  PublicApiNetworkError: 'PublicApiNetworkError',

  // The approval gate (src/workflows/approval.ts) and its activity (src/activities/approval-activities.ts).
  /** A well-formed approval that does not fit the plan: the `decide` update fails with it. */
  ApprovalRefused: 'ApprovalRefused',
  ApproversConfigError: 'ApproversConfigError',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/**
 * What retrying a chunk, planning or staging activity cannot fix (the activities also mark them non-retryable; the
 * list keeps a mistaken plain Error from looping forever). The order is the one recorded histories hold.
 */
export const IMPORT_NON_RETRYABLE: FailureType[] = [
  FailureType.InputUnreadable,
  FailureType.InvalidCsvHeader,
  FailureType.InputChanged,
  FailureType.InputInvalid,
  FailureType.MissingSecret,
  FailureType.SegmentFatal,
  FailureType.BatchLimits,
  FailureType.WriteKeyNotConfirmed,
];

/** What retrying a workspace activity cannot fix (the activities also mark them non-retryable). */
export const WORKSPACE_NON_RETRYABLE: FailureType[] = [
  FailureType.InvalidJobSpec,
  FailureType.MissingSecret,
  FailureType.PlanDrift,
  FailureType.GuardRailRefused,
];

/** The verifyApproval activity's retry options: a broken approver list fails at once (fail closed). */
export const APPROVAL_NON_RETRYABLE: FailureType[] = [FailureType.ApproversConfigError];

/** Longest `.cause` chain walked: a chain is a few links deep; the bound only stops a cycle. */
const MAX_CAUSE_DEPTH = 64;

/**
 * An error and its causes, outermost first. Temporal wraps what happened (an ApplicationFailure thrown by an
 * activity) in ActivityFailure, ChildWorkflowFailure or WorkflowFailedError, each pointing at the next by `cause`.
 */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < MAX_CAUSE_DEPTH) {
    chain.push(current);
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/** The innermost cause: the failure that says what happened (its message and type are what users need). */
export function rootCause(error: unknown): unknown {
  const chain = causeChain(error);
  return chain.length > 0 ? chain[chain.length - 1] : error;
}
