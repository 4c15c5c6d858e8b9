/**
 * Reading workflow histories in tests: every run of a continue-as-new chain, and the history as text with every
 * payload decoded. fetchHistory() returns payload bytes (or base64 text): searching that raw JSON for a secret would
 * prove nothing.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

export type History = temporal.api.history.v1.IHistory;

/** Every run of the workflow id, oldest first. */
export async function chainHistories(client: Client, workflowId: string): Promise<History[]> {
  const runs: Array<{ runId: string; start: number }> = [];
  for await (const info of client.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, '')}'` })) {
    runs.push({ runId: info.runId, start: info.startTime.getTime() });
  }
  runs.sort((a, b) => a.start - b.start);
  const histories: History[] = [];
  for (const run of runs) histories.push(await client.workflow.getHandle(workflowId, run.runId).fetchHistory());
  return histories;
}

/** The history as text with every payload's bytes (and metadata) decoded to UTF-8 next to their raw form. */
export function decodedHistoryText(history: unknown): string {
  return JSON.stringify(history, (key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
      return Buffer.from((value as { data: number[] }).data).toString('utf8');
    }
    if (key === 'data' && typeof value === 'string') return `${value} ${Buffer.from(value, 'base64').toString('utf8')}`;
    return value;
  });
}

/**
 * Every Payload object ({metadata, data}) anywhere in the history, with where it was found. Search attributes are
 * left out: visibility indexes them as plain values, so no codec ever encodes them (they hold kinds and states only).
 */
export function payloadsOf(history: unknown): Array<{ path: string; metadata?: Record<string, Uint8Array>; data?: Uint8Array }> {
  const found: Array<{ path: string; metadata?: Record<string, Uint8Array>; data?: Uint8Array }> = [];
  const walk = (value: unknown, path: string): void => {
    if (!value || typeof value !== 'object' || value instanceof Uint8Array) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${path}[${i}]`));
      return;
    }
    const record = value as Record<string, unknown>;
    if (record.metadata && typeof record.metadata === 'object' && 'data' in record) {
      found.push({ path, ...(record as { metadata?: Record<string, Uint8Array>; data?: Uint8Array }) });
      return;
    }
    for (const [key, child] of Object.entries(record)) {
      if (key === 'searchAttributes') continue;
      walk(child, `${path}.${key}`);
    }
  };
  walk(history, '');
  return found;
}
