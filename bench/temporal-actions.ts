/**
 * Temporal actions of one import, counted two ways: from the job's histories (every run of its continue-as-new
 * chain), which say what the workflow did, and from the dev server's own metrics (its `action` counter and its
 * frontend requests), which also see what never reaches a history: heartbeats and queries. docs/footprint.md reads
 * the figures.
 */
import { temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';

const EventType = temporal.api.enums.v1.EventType;

/** History events that Temporal Cloud bills as actions (docs/footprint.md), by what they are. */
const BILLED_EVENTS: Record<string, string> = {
  EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: 'workflow runs started (incl. continue-as-new)',
  EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: 'activities scheduled',
  EVENT_TYPE_TIMER_STARTED: 'timers',
  EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: 'signals',
  EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 'updates',
  EVENT_TYPE_MARKER_RECORDED: 'markers (local activities, side effects)',
  EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: 'search attribute upserts',
  EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: 'child workflows',
};

export interface HistoryCounts {
  runs: number;
  events: number;
  workflowTasks: number;
  /** Activity attempts beyond the first (ActivityTaskStarted.attempt - 1): each retry is an action too. */
  activityRetries: number;
  billed: Record<string, number>;
}

/** Walks the chain backwards from the latest run (each run's first event names the run it continued). */
export async function countHistoryActions(client: Client, workflowId: string): Promise<HistoryCounts> {
  const counts: HistoryCounts = { runs: 0, events: 0, workflowTasks: 0, activityRetries: 0, billed: {} };
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    counts.runs += 1;
    let previous: string | undefined;
    for (const event of history.events ?? []) {
      counts.events += 1;
      const type = EventType[event.eventType ?? 0] ?? String(event.eventType);
      if (type === 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED') counts.workflowTasks += 1;
      if (type === 'EVENT_TYPE_ACTIVITY_TASK_STARTED')
        counts.activityRetries += Math.max(0, (event.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
      if (type === 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED')
        previous = event.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      const label = BILLED_EVENTS[type];
      if (label) counts.billed[label] = (counts.billed[label] ?? 0) + 1;
    }
    if (previous === undefined) return counts;
    runId = previous;
  }
}

/** `name{labels} value` lines of a Prometheus text page, for the metric `name`. */
export function parsePrometheusCounters(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const match of line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)) labels[match[1]!] = match[2]!;
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

export interface ServerCounts {
  /** The server's `action` counter for the namespace, by action_type. */
  actions: Record<string, number>;
  /** Frontend requests for the namespace, by operation (heartbeats, queries, polls...). */
  requests: Record<string, number>;
}

export async function readServerCounts(metricsUrl: string, namespace = 'default'): Promise<ServerCounts> {
  const text = await (await fetch(metricsUrl)).text();
  const actions: Record<string, number> = {};
  for (const { labels, value } of parsePrometheusCounters(text, 'action')) {
    if (labels.namespace !== namespace) continue;
    const key = labels.action_type ?? '?';
    actions[key] = (actions[key] ?? 0) + value;
  }
  const requests: Record<string, number> = {};
  for (const { labels, value } of parsePrometheusCounters(text, 'service_requests')) {
    if (labels.namespace !== namespace || labels.service_name !== 'frontend') continue;
    const key = labels.operation ?? '?';
    requests[key] = (requests[key] ?? 0) + value;
  }
  return { actions, requests };
}

/** after - before, keeping only what changed. */
export function diffCounts(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  return out;
}

export const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
