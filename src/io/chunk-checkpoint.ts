/**
 * A durable per-chunk checkpoint beside the chunk's reject reports: how far Segment has acknowledged this chunk.
 *
 * Heartbeat details carry the same checkpoint, but the SDK sends heartbeats at most every 0.8 x heartbeatTimeout,
 * so after a crash they can be seconds of batches behind. This file is rewritten after *every* acknowledged
 * batch, so a retried attempt re-sends at most the batch that was in flight when the worker died. It lives in
 * the report directory, which every worker shares (src/io/reject-report.ts), so a retry on another host reads it.
 *
 * One pwrite at offset 0: a process kill (SIGKILL) cannot tear a single write into the page cache, and every
 * counter only grows, so each record is at least as long as the one it overwrites (short ones are padded). A
 * torn or foreign file is ignored (the heartbeat checkpoint still applies). It is keyed by workflow run,
 * activity and byte range, so a new run of the same job id never inherits an old run's progress.
 */
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface ChunkProgress {
  /** Records (chunk-relative) fully covered by acknowledged batches. */
  recordsAcked: number;
  eventsSent: number;
  batchesSent: number;
  serverRejected: number;
  /** Per-day counts of the acknowledged events (segflow verify). */
  sentByDay?: Record<string, number>;
}

export interface CheckpointKey {
  runId: string;
  activityId: string;
  startByte: number;
  endByte: number;
}

const RECORD_BYTES = 512;

function sameKey(a: CheckpointKey, b: Partial<CheckpointKey>): boolean {
  return a.runId === b.runId && a.activityId === b.activityId && a.startByte === b.startByte && a.endByte === b.endByte;
}

/** The progress saved for this key, or undefined (no file, another run's, or unreadable). */
export async function readChunkCheckpoint(path: string, key: CheckpointKey): Promise<ChunkProgress | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const saved = JSON.parse(text.trim()) as Partial<CheckpointKey> & Partial<ChunkProgress>;
    if (!sameKey(key, saved)) return undefined;
    const numbers = [saved.recordsAcked, saved.eventsSent, saved.batchesSent, saved.serverRejected];
    if (!numbers.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) return undefined;
    const progress: ChunkProgress = { recordsAcked: saved.recordsAcked!, eventsSent: saved.eventsSent!, batchesSent: saved.batchesSent!, serverRejected: saved.serverRejected! };
    if (saved.sentByDay !== undefined) {
      if (typeof saved.sentByDay !== 'object' || saved.sentByDay === null || !Object.values(saved.sentByDay).every((n) => Number.isSafeInteger(n))) return undefined;
      progress.sentByDay = saved.sentByDay;
    }
    return progress;
  } catch {
    return undefined;
  }
}

export class ChunkCheckpointWriter {
  private written = 0;
  private constructor(private readonly handle: FileHandle, private readonly key: CheckpointKey) {}

  /**
   * Opens without truncating and writes `start` (the progress this attempt resumes from) at once: an attempt that
   * dies before its first batch must not erase what an earlier attempt saved.
   */
  static async open(path: string, key: CheckpointKey, start: ChunkProgress): Promise<ChunkCheckpointWriter> {
    await mkdir(dirname(path), { recursive: true });
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      handle = await open(path, 'w');
    }
    const writer = new ChunkCheckpointWriter(handle, key);
    writer.written = (await handle.stat()).size;
    await writer.save(start);
    return writer;
  }

  async save(progress: ChunkProgress): Promise<void> {
    const text = JSON.stringify({ ...this.key, ...progress });
    // Never shorter than the previous record (counters only grow; padded to a floor), so one write replaces it.
    const record = text.padEnd(Math.max(RECORD_BYTES, this.written), ' ');
    this.written = Buffer.byteLength(record);
    await this.handle.write(record, 0, 'utf8');
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
