/**
 * The markdown the Temporal UI shows as an import's "current details". Pure, so the workflow can call it on
 * every change, and a test can read it.
 */
import type { ImportOptions, ImportStatus } from './import-contract';

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
  if (status.error) lines.push('', `Error: ${status.error}`);
  return lines.join('\n');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
