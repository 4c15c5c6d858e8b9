/**
 * How event statistics add up, in one place for both sides: the chunk activity counts each valid event into its
 * result (src/activities/chunk-sender.ts), the import workflow adds each chunk's result to the job's totals
 * (src/workflows/import-workflow.ts). Pure and deterministic, so the workflow sandbox may run it.
 */

/** Counts by key (event types, events per UTC day). */
export type Counts = Record<string, number>;

/** The time range of the events seen, as ISO-8601 strings (which order as text). */
export interface TimeRange {
  minTimestamp?: string;
  maxTimestamp?: string;
}

/**
 * What a chunk attempt counts: the counting part of `ChunkResult` (src/contracts/import-job.ts), which extends it.
 */
export interface ChunkCounts extends TimeRange {
  rowsRead: number;
  rowsRejected: number;
  eventsSent: number;
  /** Valid events of a dry run or a validation pass: what would be sent. */
  eventsValid: number;
  batchesSent: number;
  bytes: number;
  typeCounts: Counts;
  /** Valid rows that carried server-set fields (an export's receivedAt, sentAt, ...), which were dropped. */
  serverFieldRows: number;
  /** Which server-set fields those rows had. */
  serverFields: string[];
  /** Events Segment acknowledged, per UTC day of the acknowledgement (what its API-call usage counts). */
  sentByDay: Counts;
  /** Set on the partial result a cancelled chunk reports (CancelledFailure details): it stopped before its end. */
  stopped?: boolean;
}

/**
 * A job's running totals (`ImportTotals`, src/contracts/import-job.ts). The optional fields came in later releases:
 * totals carried across continue-as-new from an older run lack them.
 */
export interface TotalCounts extends TimeRange {
  rowsRead: number;
  rowsRejected: number;
  eventsSent: number;
  eventsValid: number;
  batchesSent: number;
  bytesDone: number;
  chunksDone: number;
  typeCounts: Counts;
  serverFieldRows?: number;
  serverFields?: string[];
  sentByDay?: Counts;
}

export function addCount(counts: Counts, key: string, count: number): void {
  counts[key] = (counts[key] ?? 0) + count;
}

export function widenTimeRange(range: TimeRange, min: string | undefined, max: string | undefined): void {
  if (min && (!range.minTimestamp || min < range.minTimestamp)) range.minTimestamp = min;
  if (max && (!range.maxTimestamp || max > range.maxTimestamp)) range.maxTimestamp = max;
}

/** Adds the names not listed yet, keeping first-seen order. */
export function addFieldNames(into: string[], names: readonly string[]): void {
  for (const name of names) if (!into.includes(name)) into.push(name);
}

/** One valid event into a chunk's result. */
export function countEvent(result: ChunkCounts, event: { type: string; timestamp?: string }, serverFields: readonly string[] | undefined): void {
  if (serverFields !== undefined) {
    result.serverFieldRows += 1;
    addFieldNames(result.serverFields, serverFields);
  }
  addCount(result.typeCounts, event.type, 1);
  widenTimeRange(result, event.timestamp, event.timestamp);
}

/**
 * One chunk's result into the job's totals. A stopped chunk (cancelled, its partial result) adds what it got
 * through; its bytes and the chunk itself are not done.
 */
export function addChunkToTotals(totals: TotalCounts, result: ChunkCounts): void {
  totals.rowsRead += result.rowsRead;
  totals.rowsRejected += result.rowsRejected;
  totals.eventsSent += result.eventsSent;
  totals.batchesSent += result.batchesSent;
  // Totals carried from older runs have no sentByDay; it appears with the first acknowledged event.
  for (const [day, count] of Object.entries(result.sentByDay ?? {})) addCount((totals.sentByDay ??= {}), day, count);
  if (result.stopped) return;
  totals.eventsValid += result.eventsValid;
  totals.bytesDone += result.bytes;
  totals.chunksDone += 1;
  for (const [type, count] of Object.entries(result.typeCounts)) addCount(totals.typeCounts, type, count);
  if (result.serverFieldRows > 0) {
    totals.serverFieldRows = (totals.serverFieldRows ?? 0) + result.serverFieldRows;
    addFieldNames((totals.serverFields ??= []), result.serverFields);
  }
  widenTimeRange(totals, result.minTimestamp, result.maxTimestamp);
}
