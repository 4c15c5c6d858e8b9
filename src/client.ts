/**
 * Talking to Temporal from the CLI (and from tests, the bench and `segflow dev`): connect, start jobs, read their
 * status, follow them, send them signals. Only ids, counts and file *references* cross this boundary; never rows,
 * never secrets.
 *
 * This file is the public entry; each concern lives in one file of src/client/:
 * connection.ts (connect, withClient), import-request.ts (checks before connecting), import-start.ts (options and
 * start), job-ids.ts (default job ids), job-status.ts, follow.ts, job-list.ts, job-control.ts (pause, resume,
 * cancel), workspace-job.ts, approval-audit.ts (who decided, from history), usage-error.ts.
 */
export { UsageError } from './client/usage-error';
export { connectClient, hasSegflowSearchAttributes, withClient, type SegflowClient } from './client/connection';
export { checkImportRequest, defaultJobId, detectFormat, type CheckedImportRequest, type ImportRequest } from './client/import-request';
export { IMPORT_DEFAULTS, parseRate, startImport } from './client/import-start';
export { getJobStatus, queryJobStatus, type JobStatus } from './client/job-status';
export { TERMINAL_STATES } from './contracts/job-state';
export { DIAGNOSE_AFTER_MS, diagnoseUnansweredJob, followJob } from './client/follow';
export { listJobs, type JobSummary } from './client/job-list';
export { cancelJob, pauseJob, resumeJob } from './client/job-control';
export { resolveJob, startWorkspaceJob, waitForPreview } from './client/workspace-job';
export { workspaceJobId } from './client/job-ids';
export { auditJob, type AuditAttempt, type AuditReport } from './client/approval-audit';
export type { ImportStatus } from './contracts/import-job';
