/**
 * Segment Tracking API limits (docs/segment-tracking-api.md, "Limits").
 *
 * Segment never defines "KB" as 1000 or 1024 bytes, so every byte limit here is the conservative reading,
 * with headroom. All are measured on the exact UTF-8 bytes we put on the wire.
 */
export const SEGMENT_LIMITS = {
  /** "32 KB" per event: 32,000 is below both readings. */
  maxEventBytes: 32_000,
  /** "500 KB" per batch request: analytics-node flushes at 480 KiB; 480,000 is below it and leaves wrapper headroom. */
  maxBatchBytes: 480_000,
  /** Over 2,500 events Segment answers 200 and silently drops them, so this is a hard ceiling. */
  maxEventsPerBatch: 2_500,
  /** Longer messageIds are not accepted. */
  maxMessageIdLength: 100,
} as const;

/** Default tracking API root; the client appends /v1/batch. EU: https://events.eu1.segmentapis.com */
export const DEFAULT_TRACKING_URL = 'https://api.segment.io';
/** Default Public API root. EU: https://eu1.api.segmentapis.com */
export const DEFAULT_PUBLIC_API_URL = 'https://api.segmentapis.com';

/**
 * What staging (src/io/staging.ts) may write for one job. Real NDJSON and CSV exports compress 5-20x; a gzip bomb
 * (200 MB of newlines in 194 KB) is ~1000x. The ratio is judged only once a file has produced `ratioCheckAfterBytes`,
 * so small honest files never trip it. Workers raise them with SEGFLOW_STAGING_MAX_BYTES / _MAX_RATIO (src/config.ts).
 */
export const STAGING_LIMITS = {
  /** Decompressed bytes of all of a job's files together. */
  maxBytes: 64 * 1024 ** 3,
  /** Decompressed bytes per compressed byte read, per .gz file. */
  maxRatio: 100,
  ratioCheckAfterBytes: 8 * 1024 * 1024,
} as const;

export interface StagingLimits {
  maxBytes: number;
  maxRatio: number;
}
