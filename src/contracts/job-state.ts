/**
 * Job kinds and states, listed once. The state strings are public: `segflow status --json`, the SegflowState search
 * attribute (src/contracts/search-attributes.ts) and the `segflow_job_transitions` metric carry them.
 */

export const JOB_KINDS = ['import', 'workspace'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATES = [
  'planning',
  'validating',
  'running',
  'paused',
  'awaiting_approval',
  'completed',
  'failed',
  'cancelled',
  'rejected',
  'expired',
  // Closed by Temporal rather than by the workflow (`temporal workflow terminate`, an execution timeout).
  'terminated',
  'timed_out',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States a job does not leave: `followJob` stops at them, `listJobs` trusts them over the execution status. */
export const TERMINAL_STATES: ReadonlySet<string> = new Set<JobState>([
  'completed',
  'failed',
  'cancelled',
  'rejected',
  'expired',
  'terminated',
  'timed_out',
]);

/** The states a workspace job's own code sets (it has no planning, validating or paused phase). */
export type WorkspaceJobState = Extract<JobState, 'running' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled' | 'rejected' | 'expired'>;
