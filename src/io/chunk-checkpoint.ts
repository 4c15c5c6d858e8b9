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
 *
 * It also fences attempts. When a chunk's heartbeat times out while its worker still runs (a Temporal server that
 * was down longer than the heartbeat timeout, a stalled host), Temporal starts a new attempt while the old one is
 * still sending, and both would send the same records. Each record names the attempt that wrote it; an attempt
 * checks before every request and before every save, and stops once a later attempt has taken the chunk over, so
 * the overlap costs at most the one batch the old attempt had in flight (docs/scaling.md).
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
    const progress: ChunkProgress = {
      recordsAcked: saved.recordsAcked!,
      eventsSent: saved.eventsSent!,
      batchesSent: saved.batchesSent!,
      serverRejected: saved.serverRejected!,
    };
    if (saved.sentByDay !== undefined) {
      if (typeof saved.sentByDay !== 'object' || saved.sentByDay === null || !Object.values(saved.sentByDay).every((n) => Number.isSafeInteger(n)))
        return undefined;
      progress.sentByDay = saved.sentByDay;
    }
    return progress;
  } catch {
    return undefined;
  }
}

/** A later attempt of the same chunk has taken it over: this attempt must send nothing more. */
export class ChunkSupersededError extends Error {
  override readonly name = 'ChunkSupersededError';
  constructor(
    readonly attempt: number,
    readonly by: number,
  ) {
    super(`attempt ${attempt} of this chunk stopped: attempt ${by} has taken it over`);
  }
}

export class ChunkCheckpointWriter {
  private written = 0;
  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly key: CheckpointKey,
    private readonly attempt: number,
  ) {}

  /**
   * Opens without truncating and writes `start` (the progress this attempt resumes from) at once: an attempt that
   * dies before its first batch must not erase what an earlier attempt saved.
   */
  static async open(path: string, key: CheckpointKey, start: ChunkProgress, attempt = 1): Promise<ChunkCheckpointWriter> {
    await mkdir(dirname(path), { recursive: true });
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      handle = await open(path, 'w');
    }
    const writer = new ChunkCheckpointWriter(path, handle, key, attempt);
    writer.written = (await handle.stat()).size;
    await writer.save(start);
    return writer;
  }

  /** Throws ChunkSupersededError when a later attempt of this chunk has written the file since this one opened it. */
  async assertCurrent(): Promise<void> {
    let saved: Partial<CheckpointKey> & { attempt?: unknown };
    try {
      saved = JSON.parse((await readFile(this.path, 'utf8')).trim()) as typeof saved;
    } catch {
      return; // unreadable: nothing says another attempt owns the chunk
    }
    if (sameKey(this.key, saved) && typeof saved.attempt === 'number' && saved.attempt > this.attempt) {
      throw new ChunkSupersededError(this.attempt, saved.attempt);
    }
  }

  async save(progress: ChunkProgress): Promise<void> {
    await this.assertCurrent();
    const text = JSON.stringify({ ...this.key, ...progress, attempt: this.attempt });
    // Never shorter than the previous record (counters only grow; padded to a floor), so one write replaces it.
    const record = text.padEnd(Math.max(RECORD_BYTES, this.written), ' ');
    this.written = Buffer.byteLength(record);
    await this.handle.write(record, 0, 'utf8');
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
