/**
 * The markdown the Temporal UI shows as an import's "current details". Pure, so the workflow can call it on
 * every change, and a test can read it.
 */
import type { ImportOptions, ImportStatus } from '../contracts/import-job';
import { markdownText } from '../shared/safe-text';

export function renderImportDetails(status: ImportStatus, options: ImportOptions): string {
  const percent = status.bytes.total > 0 ? Math.floor((status.bytes.done / status.bytes.total) * 100) : 0;
  const lines = [
    `**${status.state}** · ${percent}% of ${formatBytes(status.bytes.total)} · source \`${status.source}\`${status.dryRun ? ' · dry run' : ''}`,
    '',
    '| rows read | events sent | rows rejected | batches | chunks done | in flight |',
    '|---:|---:|---:|---:|---:|---:|',
    `| ${status.rows.read} | ${status.events.sent} | ${status.rows.rejected} | ${status.batches.sent} | ${status.chunks.done} | ${status.chunks.inFlight} |`,
  ];
  if (status.timeRange) lines.push('', `Event time range: ${status.timeRange.min} → ${status.timeRange.max}`);
  if (options.rateLimit) lines.push('', `Rate cap: ${options.rateLimit.perSecond} ${options.rateLimit.unit}/s across all workers`);
  if (status.rejectReport) lines.push('', `Reject report: \`${status.rejectReport}\``);
  if (status.delivery && !status.delivery.confirmed) {
    lines.push(
      '',
      `Delivery not confirmed: ${markdownText(status.delivery.reason, 300)}; check with \`segflow verify\` (Segment answers 200 even to an unknown write key).`,
    );
  }
  if (status.error) lines.push('', `Error: ${status.error}`);
  return lines.join('\n');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** The plan an import waits on with --require-approval, as the approver sees it. */
export function renderImportPlan(
  plan: {
    file: string;
    source: string;
    format: string;
    fileBytes: number;
    rowsRead: number;
    rowsRejected: number;
    eventsToSend: number;
    typeCounts: Record<string, number>;
    timeRange: { min?: string; max?: string } | null;
  },
  planHash: string,
): string {
  const types =
    Object.entries(plan.typeCounts)
      .map(([type, count]) => `${markdownText(type, 50)} ${count}`)
      .join(' · ') || 'none';
  return [
    `**Awaiting approval** to send **${plan.eventsToSend} events** to source ${markdownText(plan.source, 100)}`,
    '',
    '| input | rows read | rows rejected | events to send |',
    '|---|---:|---:|---:|',
    `| ${markdownText(plan.file, 500)} (${plan.format}, ${formatBytes(plan.fileBytes)}) | ${plan.rowsRead} | ${plan.rowsRejected} | ${plan.eventsToSend} |`,
    '',
    `Call types: ${types}`,
    plan.timeRange ? `Event time range: ${plan.timeRange.min} → ${plan.timeRange.max}` : 'Event time range: none',
    '',
    `Plan hash: \`${planHash}\` — approve with \`segflow approve <job id>\`, reject with \`segflow reject <job id> --reason ...\``,
  ].join('\n');
}

/** A fraction as a percentage for messages: 0.29 reads "29", not the "28.999999999999996" of `0.29 * 100`. */
export function percentOf(fraction: number): string {
  return String(Number((fraction * 100).toFixed(4)));
}
