/**
 * segflow's metrics from workflow code, through the SDK's workflow metric meter (docs/operations.md). The SDK
 * emits nothing while a workflow replays, so a state entered once counts once, whichever worker replays it.
 * Emitting a metric adds no command to history: these calls never change a workflow's determinism.
 *
 * Tags: job kind and source name only, never a job id (cardinality).
 */
import { metricMeter } from '@temporalio/workflow';
import type { JobKind } from '../contracts/job-state';
import { SOURCE_NAME_PATTERN } from '../contracts/names';

/** A source label as the series carries it: a valid source name, else one shared value, so labels stay bounded. */
export function sourceLabel(source: string): string {
  return SOURCE_NAME_PATTERN.test(source) ? source : 'invalid';
}

/**
 * Call on every state change of a job: counts entries into each state. Approvals waiting now is
 * `segflow_job_transitions{state="awaiting_approval"}` minus `segflow_approvals_decided` (the workflow meter
 * has no up-down counter in SDK 1.24).
 */
export function recordJobState(kind: JobKind, from: string, to: string, source?: string): void {
  if (from === to) return;
  const tags = { job_kind: kind, ...(source ? { source: sourceLabel(source) } : {}) };
  // A metric must never fail a workflow task.
  try {
    metricMeter.createCounter('segflow_job_transitions', 'jobs', 'Jobs entering each state').add(1, { ...tags, state: to });
    if (from === 'awaiting_approval') {
      metricMeter.createCounter('segflow_approvals_decided', 'jobs', 'Jobs leaving the awaiting_approval state').add(1, { ...tags, state: to });
    }
  } catch {
    // metrics are best effort
  }
}
