/**
 * What every part of the benchmark shares: paths, the Segment write key, formatting. See bench/README.md.
 */
import { join, resolve } from 'node:path';
import { rootCause } from '../src/contracts/failures';

export const ROOT = resolve(__dirname, '..');
export const CACHE_DIR = join(ROOT, '.cache', 'bench');
export const WRITE_KEY = 'bench-key';
export const TASK_QUEUE = 'segflow-bench';
/** 1 MB = 1,000,000 bytes: the stricter reading of the memory targets. */
export const MB = 1_000_000;

/** One sender's run over the whole file. */
export interface SendRun {
  events: number;
  batches: number;
  ms: number;
  /** CPU seconds of the process that read, serialized and posted (the bench process for the bare loop). */
  senderCpu: number;
  doubleCpu: number;
  /** CPU seconds used by processes that are not part of the run: noise from whatever else the machine does. */
  othersCpu: number;
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
export const rate = (run: SendRun) => run.events / (run.ms / 1000);

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

export function innermostMessage(error: unknown): string {
  return (rootCause(error) as { message?: string }).message ?? String(error);
}
