/**
 * `segflow list`: recent jobs from Temporal visibility.
 */
import { temporal } from '@temporalio/proto';
import { SEGFLOW_KIND, SEGFLOW_SOURCE, SEGFLOW_STATE } from '../contracts/search-attributes';
import { hasSegflowSearchAttributes, type SegflowClient } from './connection';
import { importJob } from '../workflows/import-workflow';
import { workspaceJob } from '../workflows/workspace-job';
import { TERMINAL_STATES } from '../contracts/job-state';
import { kindOf, stateOfClosed } from './job-status';

export interface JobSummary {
  jobId: string;
  kind: string;
  state: string;
  source?: string;
  status: string;
  startTime: string;
  closeTime?: string;
}

/**
 * Recent segflow jobs from Temporal visibility, newest first. Uses the Segflow* search attributes when they are
 * registered (filters by state and kind run on the server); otherwise filters by workflow type.
 */
export async function listJobs(sc: SegflowClient, filter: { state?: string; kind?: string; limit?: number } = {}): Promise<JobSummary[]> {
  const withAttributes = await hasSegflowSearchAttributes(sc);
  const clauses: string[] = [];
  const workflowTypes =
    filter.kind === 'import' ? [importJob.name] : filter.kind === 'workspace' ? [workspaceJob.name] : [importJob.name, workspaceJob.name];
  clauses.push(`(${workflowTypes.map((t) => `WorkflowType = '${t}'`).join(' OR ')})`);
  const closedByTemporal: Record<string, string> = { terminated: 'Terminated', timed_out: 'TimedOut' };
  if (filter.state && closedByTemporal[filter.state]) clauses.push(`ExecutionStatus = '${closedByTemporal[filter.state]}'`);
  else if (filter.state && withAttributes) clauses.push(`SegflowState = '${filter.state.replace(/'/g, '')}'`);
  const jobs: JobSummary[] = [];
  const limit = filter.limit ?? 20;
  // The raw visibility API, not `client.workflow.list()`: the SDK's list decodes every execution's memo through the
  // data converter, so one job started with payload encryption (or another codec key) would make the whole listing
  // fail for a client without that key. A listing needs only ids, statuses and search attributes, which no codec
  // touches (docs/temporal-notes.md).
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await sc.client.workflowService.listWorkflowExecutions({
      namespace: sc.client.options.namespace,
      query: clauses.join(' AND '),
      pageSize: Math.min(limit * 2, 100),
      nextPageToken,
    });
    for (const raw of page.executions ?? []) {
      const statusName = executionStatusName(raw.status);
      // An earlier run of a continue-as-new chain: its latest run is listed on its own.
      if (statusName === 'CONTINUED_AS_NEW') continue;
      const attributes = keywordAttributes(raw.searchAttributes?.indexedFields);
      let state = attributes[SEGFLOW_STATE.name] ?? statusName.toLowerCase();
      // A job Temporal closed (terminated, timed out) never updated SegflowState: derive it from the execution status.
      if (statusName !== 'RUNNING' && !TERMINAL_STATES.has(state)) state = stateOfClosed(statusName);
      if (filter.state && state !== filter.state) continue;
      const closeTime = timestampToIso(raw.closeTime);
      jobs.push({
        jobId: raw.execution?.workflowId ?? '',
        kind: attributes[SEGFLOW_KIND.name] ?? kindOf(raw.type?.name ?? ''),
        state,
        source: attributes[SEGFLOW_SOURCE.name],
        status: statusName,
        startTime: timestampToIso(raw.startTime) ?? '',
        ...(closeTime ? { closeTime } : {}),
      });
      if (jobs.length >= limit) break;
    }
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken !== undefined && jobs.length < limit);
  return jobs;
}

/** The SDK's names for execution statuses (`WorkflowExecutionStatusName`), from the wire enum. */
function executionStatusName(code: temporal.api.enums.v1.WorkflowExecutionStatus | null | undefined): string {
  const Status = temporal.api.enums.v1.WorkflowExecutionStatus;
  switch (code) {
    case Status.WORKFLOW_EXECUTION_STATUS_RUNNING:
      return 'RUNNING';
    case Status.WORKFLOW_EXECUTION_STATUS_COMPLETED:
      return 'COMPLETED';
    case Status.WORKFLOW_EXECUTION_STATUS_FAILED:
      return 'FAILED';
    case Status.WORKFLOW_EXECUTION_STATUS_CANCELED:
      return 'CANCELLED';
    case Status.WORKFLOW_EXECUTION_STATUS_TERMINATED:
      return 'TERMINATED';
    case Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
      return 'CONTINUED_AS_NEW';
    case Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
      return 'TIMED_OUT';
    default:
      return 'UNKNOWN';
  }
}

/** Keyword search attributes are JSON strings in plain payloads; anything else (or unreadable) is left out. */
function keywordAttributes(fields: Record<string, temporal.api.common.v1.IPayload> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, payload] of Object.entries(fields ?? {})) {
    try {
      const value: unknown = JSON.parse(Buffer.from(payload.data ?? []).toString('utf8'));
      if (typeof value === 'string') out[name] = value;
      else if (Array.isArray(value) && typeof value[0] === 'string') out[name] = value[0];
    } catch {
      // Not JSON: not one of segflow's keyword attributes.
    }
  }
  return out;
}

function timestampToIso(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}
