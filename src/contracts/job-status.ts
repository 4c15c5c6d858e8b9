/**
 * The `status` query, as a client asks it of any job. Each job kind answers it with its own typed status (imports:
 * src/contracts/import-job.ts `importStatusQuery`, workspace jobs: src/contracts/workspace-job.ts
 * `workspaceJobStatusQuery`); every status carries `kind`, which tells the two apart. All three definitions use the
 * one query name `status`: clients and recorded histories (test/fixtures/histories) know it by that name.
 */
import { defineQuery } from '@temporalio/workflow';
import type { ImportStatus } from './import-job';
import type { WorkspaceJobStatus } from './workspace-job';

export const STATUS_QUERY_NAME = 'status';

/** A running job's own status: narrow it by `kind`. */
export type JobStatus = ImportStatus | WorkspaceJobStatus;

export const jobStatusQuery = defineQuery<JobStatus>(STATUS_QUERY_NAME);
