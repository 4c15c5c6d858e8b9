/**
 * Reject reports: one NDJSON line per rejected row ({line, field, reason, raw}), written per chunk by the
 * chunk activities and merged in file order when the job ends. They live in a directory the workers share
 * (the same place for every attempt, on whatever host it runs), never in workflow history: a raw row is
 * customer data.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { InputFormat, RejectedRow } from '../core/types';

export function jobReportDir(reportRoot: string, jobId: string): string {
  return join(reportRoot, jobId);
}

/**
 * Where a `.gz` or many-file job's staged copy and its map live (src/io/staging.ts). Derived from the job id on the
 * worker, never taken from a workflow: a path in the input could name any file. Removed when the job ends.
 */
export function stagedInputDir(reportRoot: string, jobId: string): string {
  return join(jobReportDir(reportRoot, jobId), 'staged');
}

export function stagedInputPaths(reportRoot: string, jobId: string, format: InputFormat): { dir: string; file: string; map: string } {
  const dir = stagedInputDir(reportRoot, jobId);
  return { dir, file: join(dir, `input.${format}`), map: join(dir, 'files.ndjson') };
}

function chunkDir(reportRoot: string, jobId: string): string {
  return join(jobReportDir(reportRoot, jobId), 'chunks');
}

/** A JSON `"writeKey": "..."` member; the alternatives cannot overlap, so matching is linear. */
const WRITE_KEY_FIELD = /"writeKey"\s*:\s*"(?:[^"\\]|\\.)*"/g;

/** Buffered append-only writer; flushes in large writes so a file of nothing but bad rows stays cheap. */
export class RejectWriter {
  private buffer: string[] = [];
  private buffered = 0;
  private constructor(
    private readonly handle: FileHandle,
    private readonly tmpPath: string,
    private readonly finalPath: string,
  ) {}

  /**
   * `replace`: written to a temporary file and moved into place on close (a new attempt re-derives every local
   * reject, and a dead attempt must not leave half a file). `truncate` / `append`: written in place, for records
   * that must be durable before the checkpoint that covers them.
   *
   * Each `replace` writer has its own temporary file: an attempt whose heartbeat timed out keeps running until it
   * notices, beside its retry in the same directory, and with one shared name the first to finish moved the other's
   * file away (its rename then failed with ENOENT). Both derive the same rows, so whichever renames last is right.
   */
  static async open(path: string, mode: 'replace' | 'truncate' | 'append'): Promise<RejectWriter> {
    await mkdir(join(path, '..'), { recursive: true });
    const tmpPath = mode === 'replace' ? `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp` : path;
    if (mode === 'append') await cutTornTail(path);
    const handle = await open(tmpPath, mode === 'append' ? 'a' : 'w');
    return new RejectWriter(handle, tmpPath, path);
  }

  async write(row: RejectedRow): Promise<void> {
    // An exported row may carry its source's write key; the report keeps the row but never the key.
    const safe = row.raw.includes('"writeKey"') ? { ...row, raw: row.raw.replace(WRITE_KEY_FIELD, '"writeKey":"[writeKey removed]"') } : row;
    const line = JSON.stringify(safe) + '\n';
    this.buffer.push(line);
    this.buffered += line.length;
    if (this.buffered > 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('');
    this.buffer = [];
    this.buffered = 0;
    await this.handle.write(text);
  }

  /** Flushes, closes and (for a truncated file) atomically moves the finished file into place. */
  async close(): Promise<void> {
    await this.flush();
    await this.handle.close();
    if (this.tmpPath !== this.finalPath) await rename(this.tmpPath, this.finalPath);
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    if (this.tmpPath !== this.finalPath) await rm(this.tmpPath, { force: true });
  }
}

export function localRejectsPath(reportRoot: string, jobId: string, chunkIndex: number): string {
  return join(chunkDir(reportRoot, jobId), `${String(chunkIndex).padStart(8, '0')}.local.ndjson`);
}

/** The chunk's durable send checkpoint (src/io/chunk-checkpoint.ts); removed with the chunk reports. */
export function chunkCheckpointPath(reportRoot: string, jobId: string, chunkIndex: number): string {
  return join(chunkDir(reportRoot, jobId), `${String(chunkIndex).padStart(8, '0')}.checkpoint.json`);
}

export function serverRejectsPath(reportRoot: string, jobId: string, chunkIndex: number): string {
  return join(chunkDir(reportRoot, jobId), `${String(chunkIndex).padStart(8, '0')}.server.ndjson`);
}

/**
 * Merges every chunk's rejects into `<job>/rejects.ndjson`, ordered by line. A row rejected by Segment can be
 * recorded twice when an attempt died after writing it but before its checkpoint: keep one entry per line.
 */
export async function mergeRejectReports(
  reportRoot: string,
  jobId: string,
  /** Rewrites each row as written to the report (a staged input's rows name their file and own line). */
  locate?: (row: RejectedRow) => RejectedRow,
): Promise<{ path: string; rejects: number }> {
  const dir = chunkDir(reportRoot, jobId);
  const target = join(jobReportDir(reportRoot, jobId), 'rejects.ndjson');
  await mkdir(jobReportDir(reportRoot, jobId), { recursive: true });
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((name) => name.endsWith('.ndjson')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const out = await RejectWriter.open(target, 'replace');
  let rejects = 0;
  try {
    // Files sort by chunk index; within a chunk merge local and server rejects by line.
    const byChunk = new Map<string, string[]>();
    for (const name of files) {
      const chunk = name.slice(0, 8);
      byChunk.set(chunk, [...(byChunk.get(chunk) ?? []), name]);
    }
    for (const names of byChunk.values()) {
      const rows = new Map<number, RejectedRow>();
      for (const name of names) {
        const lines = createInterface({ input: createReadStream(join(dir, name)), crlfDelay: Infinity });
        for await (const text of lines) {
          if (!text) continue;
          const row = parseRejectLine(text);
          // A line torn by a crash or a full disk is skipped rather than wedging the job: its row's batch was not
          // checkpointed, so the retry that followed recorded it again (or it was a local reject, re-derived).
          if (row === undefined) continue;
          if (!rows.has(row.line)) rows.set(row.line, row);
        }
      }
      for (const line of [...rows.keys()].sort((a, b) => a - b)) {
        await out.write(locate ? locate(rows.get(line)!) : rows.get(line)!);
        rejects++;
      }
    }
  } finally {
    await out.close();
  }
  return { path: target, rejects };
}

export async function removeChunkReports(reportRoot: string, jobId: string): Promise<void> {
  await rm(chunkDir(reportRoot, jobId), { recursive: true, force: true });
}

/** What `segflow rejects` needs to write rows back as the input had them: its format and CSV header. */
export interface ReportInputInfo {
  format: InputFormat;
  csvColumns?: string[];
}

const INPUT_INFO_FILE = 'input.json';

export async function writeReportInputInfo(reportRoot: string, jobId: string, info: ReportInputInfo): Promise<void> {
  const dir = jobReportDir(reportRoot, jobId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${INPUT_INFO_FILE}.tmp`), JSON.stringify(info));
  await rename(join(dir, `${INPUT_INFO_FILE}.tmp`), join(dir, INPUT_INFO_FILE));
}

export async function readReportInputInfo(jobDir: string): Promise<ReportInputInfo | undefined> {
  try {
    return JSON.parse(await readFile(join(jobDir, INPUT_INFO_FILE), 'utf8')) as ReportInputInfo;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseRejectLine(text: string): RejectedRow | undefined {
  try {
    const row = JSON.parse(text) as RejectedRow;
    return typeof row === 'object' && row !== null && Number.isSafeInteger(row.line) ? row : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A crash or a full disk can leave half a record at the end of a file written in place; appending after it would
 * glue the next record onto it. Cut back to the last complete line first.
 */
async function cutTornTail(path: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    // Records are small (a raw row is capped by the reader), so the last newline is near the end; scan back in blocks.
    const block = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - block.length);
      const { bytesRead } = await handle.read(block, 0, end - start, start);
      const newline = block.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (end === size && newline === bytesRead - 1) return; // ends with a whole line
      if (newline !== -1) {
        await handle.truncate(start + newline + 1);
        return;
      }
      end = start;
    }
    await handle.truncate(0);
  } finally {
    await handle.close();
  }
}
