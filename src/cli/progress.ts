/**
 * Rendering a job's progress for a terminal: one repainted line on a TTY, one line per change when piped,
 * JSON lines with --json.
 */
import type { JobStatus } from '../client';
import { jsonText, plainText } from '../shared/safe-text';

export interface ProgressPrinter {
  update(status: JobStatus): void;
  done(): void;
}

export function createProgressPrinter(mode: { json: boolean; tty: boolean }, stream: NodeJS.WriteStream = process.stderr): ProgressPrinter {
  let last = '';
  let startedAt = Date.now();
  let firstSent: number | undefined;
  return {
    update(status) {
      if (mode.json) {
        // One line per change: updatedAt alone changing is not news.
        const { updatedAt: _ignored, ...rest } = status as JobStatus & { updatedAt?: string };
        const key = JSON.stringify(rest);
        if (key !== last) process.stdout.write(jsonText(status) + '\n');
        last = key;
        return;
      }
      const text = describeProgress(status, { startedAt, firstSent });
      if (firstSent === undefined) {
        firstSent = sentOf(status);
        startedAt = Date.now();
      }
      if (text === last) return;
      last = text;
      if (mode.tty) stream.write(`\r\x1b[2K${text}`);
      else stream.write(text + '\n');
    },
    done() {
      if (mode.tty && !mode.json && last) stream.write('\n');
    },
  };
}

function sentOf(status: JobStatus): number {
  const events = status.events as { sent?: number } | undefined;
  return events?.sent ?? 0;
}

export function describeProgress(status: JobStatus, timing?: { startedAt: number; firstSent?: number }): string {
  const rows = status.rows as { read?: number; rejected?: number } | undefined;
  const bytes = status.bytes as { done?: number; total?: number } | undefined;
  const parts = [`${status.jobId}: ${status.state}`];
  if (bytes?.total) {
    const ratio = Math.min(1, (bytes.done ?? 0) / bytes.total);
    const width = 20;
    const filled = Math.round(ratio * width);
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0)}%`);
  }
  if (rows) parts.push(`rows ${rows.read ?? 0}`, `sent ${sentOf(status)}`, `rejected ${rows.rejected ?? 0}`);
  if (timing && timing.firstSent !== undefined) {
    const seconds = (Date.now() - timing.startedAt) / 1000;
    const rate = seconds > 0 ? (sentOf(status) - timing.firstSent) / seconds : 0;
    if (rate > 0) {
      parts.push(`${Math.round(rate)} ev/s`);
      if (bytes?.total && bytes.done && bytes.done < bytes.total) {
        const doneRatio = bytes.done / bytes.total;
        const eta = (seconds / Math.max(doneRatio, 1e-6)) * (1 - doneRatio);
        if (Number.isFinite(eta)) parts.push(`ETA ${Math.ceil(eta)}s`);
      }
    }
  }
  // The id and state come from the job (a workflow started around the CLI can name itself anything).
  return plainText(parts.join(' · '), Infinity);
}
