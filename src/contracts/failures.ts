/**
 * Failure types (ApplicationFailure `type`) that workflows, activities, the client and the tests match on.
 */

/** A well-formed approval that does not fit the plan (src/workflows/approval.ts). */
export const APPROVAL_REFUSED = 'ApprovalRefused';

/** A workspace job stopped by a failed item; its details hold the full result (src/workflows/workspace-job.ts). */
export const WORKSPACE_JOB_FAILED = 'WorkspaceJobFailed';
