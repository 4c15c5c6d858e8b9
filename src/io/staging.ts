/**
 * Staging: gzip inputs and many-file inputs become one plain file in storage the workers share, so everything after
 * it (planning by byte range, chunk activities resuming after their last acknowledged batch) works exactly as for a
 * single plain file. gzip cannot be read from the middle, so a chunk could not otherwise start at its own byte
 * range; docs/compressed-and-many-files.md explains the choice and its cost (disk for the decompressed copy).
 *
 * Files are appended in order, decompressed when named `.gz`; a CSV file after the first must start with the same
 * header, which is dropped so the staged file has one header. Each file ends with a newline. A side file (the map,
 * NDJSON) records where each file starts in the staged file, so rejects and messageIds can name the file and its
 * own line, and the sha-256 of each file's bytes as read (compressed), from which the job's content digest is built.
 *
 * Resumable at file boundaries: the checkpoint holds the staged bytes, lines and map bytes after the last complete
 * file; a new attempt truncates both files to it and continues with the next file. Memory stays bounded by stream
 * back-pressure.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isHttpLocation } from '../shared/location';
import type { InputFormat } from '../core/types';
import { openByteSource } from './open-byte-source';
import type { InputEntry } from './input-set';
import { clipText } from '../shared/safe-text';

export interface StagedFile {
  name: string;
  /** Line of the staged file where this file's first staged line is. */
  stagedStartLine: number;
  /** That line's number in the file itself (2 for a CSV file whose header was dropped). */
  localStartLine: number;
  /** sha-256 (hex) of the file's bytes as read, compressed or not. */
  sha256: string;
}

export interface StageCheckpoint {
  filesDone: number;
  bytesWritten: number;
  linesWritten: number;
  mapBytes: number;
}

export class StagingInputError extends Error {
  override readonly name = 'StagingInputError';
}
export class StagingInputChangedError extends Error {
  override readonly name = 'StagingInputChangedError';
}

const LF = 0x0a;
const MAX_HEADER_BYTES = 1024 * 1024;
const PROGRESS_EVERY_BYTES = 8 * 1024 * 1024;

/** The job's content digest over every file: what the CLI puts in the job id and staging checks against. */
export function inputSetDigest(files: ReadonlyArray<{ name: string; sha256: string }>): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.name}\0${file.sha256}\n`);
  return hash.digest('hex');
}

/** sha-256 of one input's bytes as stored (for the CLI's job id). */
export async function digestInput(location: string): Promise<string> {
  const source = openByteSource(location);
  const hash = createHash('sha256');
  for await (const piece of source.openRange(0, await source.size())) hash.update(piece);
  return hash.digest('hex');
}

function countLf(buf: Buffer): number {
  let count = 0;
  for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) count++;
  return count;
}

function headerText(bytes: Buffer): string {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text.replace(/\r?\n$/, '').replace(/\r$/, '');
}

async function write(out: WriteStream, data: Buffer | string): Promise<void> {
  if (!out.write(data)) await once(out, 'drain');
}

export async function stageInputs(options: {
  entries: readonly InputEntry[];
  format: InputFormat;
  stagedPath: string;
  mapPath: string;
  checkpoint?: StageCheckpoint;
  /** Called at each file boundary with a checkpoint, and every few MB in between (same checkpoint). */
  onProgress: (checkpoint: StageCheckpoint) => void;
  signal?: AbortSignal;
}): Promise<{ checkpoint: StageCheckpoint; files: StagedFile[]; digest: string }> {
  const { entries, format, stagedPath, mapPath, onProgress, signal } = options;
  const checkpoint: StageCheckpoint = options.checkpoint
    ? { ...options.checkpoint }
    : { filesDone: 0, bytesWritten: 0, linesWritten: 0, mapBytes: 0 };
  await mkdir(dirname(stagedPath), { recursive: true });
  const resuming = options.checkpoint !== undefined;
  if (resuming) {
    // What a dead attempt wrote after its last checkpoint is thrown away.
    await truncate(stagedPath, checkpoint.bytesWritten);
    await truncate(mapPath, checkpoint.mapBytes);
  }
  const out = createWriteStream(stagedPath, { flags: resuming ? 'a' : 'w' });
  const mapOut = createWriteStream(mapPath, { flags: resuming ? 'a' : 'w' });
  let firstHeader: string | undefined;
  if (format === 'csv' && checkpoint.filesDone > 0) firstHeader = await readFirstLine(stagedPath);

  try {
    for (let index = checkpoint.filesDone; index < entries.length; index++) {
      const entry = entries[index]!;
      const local = !isHttpLocation(entry.location);
      const before = local ? await stat(entry.location) : undefined;
      const source = openByteSource(entry.location);
      const size = await source.size();
      const hash = createHash('sha256');
      const raw = Readable.from(
        (async function* hashed() {
          for await (const piece of source.openRange(0, size)) {
            hash.update(piece);
            // Copied: the stream reads ahead, and a source refills its Buffer for the next piece (src/io/byte-source.ts).
            yield Buffer.from(piece);
          }
        })(),
        // One piece ahead, not Readable.from's sixteen: a local piece is 256 KiB (src/io/local-file-source.ts), and the
        // decompressor gains nothing from 4 MB of compressed input waiting for it.
        { highWaterMark: 1 },
      );
      const stream = entry.gzip ? raw.pipe(createGunzip()) : raw;
      raw.on('error', (error) => stream.destroy(error));

      const dropHeader = format === 'csv' && index > 0;
      let headerParts: Buffer[] | undefined = dropHeader ? [] : undefined;
      let headerBytes = 0;
      let fileLines = 0;
      let lastByte = LF;
      let wrote = false;
      let sinceProgress = 0;
      // The checkpoint moves only at file boundaries: until this file is complete it says "start this file again".
      let fileBytes = 0;
      const stagedStartLine = checkpoint.linesWritten + 1;
      try {
        for await (const piece of stream as AsyncIterable<Buffer>) {
          if (signal?.aborted) throw new Error('staging cancelled');
          let data = piece;
          if (index === 0 && format === 'csv' && firstHeader === undefined) {
            // Remember the first file's header line to compare the others with it.
            const lf = data.indexOf(LF);
            firstHeader = headerText(lf === -1 ? data : data.subarray(0, lf + 1));
          }
          if (headerParts !== undefined) {
            const lf = data.indexOf(LF);
            headerParts.push(Buffer.from(lf === -1 ? data : data.subarray(0, lf + 1)));
            headerBytes += lf === -1 ? data.length : lf + 1;
            if (lf === -1) {
              if (headerBytes > MAX_HEADER_BYTES)
                throw new StagingInputError(`${entry.name}: no end of the CSV header line in the first ${MAX_HEADER_BYTES} bytes`);
              continue;
            }
            const header = headerText(Buffer.concat(headerParts));
            if (header !== firstHeader) {
              throw new StagingInputError(
                `${entry.name}, line 1 (header): the CSV header differs from the first file's ("${clipText(header, 80)}" vs "${clipText(firstHeader ?? '', 80)}"); one job takes one header`,
              );
            }
            headerParts = undefined;
            data = data.subarray(lf + 1);
          }
          if (data.length === 0) continue;
          // Copied before writing: the source may reuse its Buffer for the next piece.
          const copy = Buffer.from(data);
          fileLines += countLf(copy);
          lastByte = copy[copy.length - 1]!;
          wrote = true;
          await write(out, copy);
          fileBytes += copy.length;
          sinceProgress += copy.length;
          if (sinceProgress >= PROGRESS_EVERY_BYTES) {
            sinceProgress = 0;
            onProgress({ ...checkpoint });
          }
        }
      } catch (error) {
        if (error instanceof StagingInputError) throw error;
        const message = (error as Error).message;
        if (/incorrect header check|unexpected end of file|invalid/i.test(message) && entry.gzip) {
          throw new StagingInputError(`${entry.name}: not a valid gzip file (${message})`);
        }
        throw error;
      }
      if (headerParts !== undefined && headerBytes > 0) {
        // A file that is only a header without a newline: compare it all the same.
        const header = headerText(Buffer.concat(headerParts));
        if (header !== firstHeader) throw new StagingInputError(`${entry.name}, line 1 (header): the CSV header differs from the first file's`);
      }
      if (wrote && lastByte !== LF) {
        await write(out, '\n');
        fileBytes += 1;
        fileLines += 1;
      }
      if (local) {
        const after = await stat(entry.location);
        if (after.size !== before!.size || after.mtimeMs !== before!.mtimeMs) {
          throw new StagingInputChangedError(`${entry.location} changed while it was being imported; start a new import of the new content`);
        }
      }
      const record: StagedFile = {
        name: entry.name,
        stagedStartLine,
        localStartLine: dropHeader ? 2 : 1,
        sha256: hash.digest('hex'),
      };
      const line = JSON.stringify(record) + '\n';
      await write(mapOut, line);
      // Both files must be on disk before the checkpoint that covers them is reported.
      await flushStream(out);
      await flushStream(mapOut);
      checkpoint.bytesWritten += fileBytes;
      checkpoint.linesWritten += fileLines;
      checkpoint.mapBytes += Buffer.byteLength(line);
      checkpoint.filesDone = index + 1;
      onProgress({ ...checkpoint });
    }
  } finally {
    out.end();
    mapOut.end();
    await Promise.all([once(out, 'close'), once(mapOut, 'close')]).catch(() => undefined);
  }
  const files = await readStagedMap(mapPath);
  return { checkpoint, files, digest: inputSetDigest(files) };
}

async function flushStream(stream: WriteStream): Promise<void> {
  if (stream.writableNeedDrain) await once(stream, 'drain');
  await new Promise<void>((resolveWrite, reject) => stream.write('', (error) => (error ? reject(error) : resolveWrite())));
}

async function readFirstLine(path: string): Promise<string> {
  const lines = createInterface({ input: createReadStream(path, { end: MAX_HEADER_BYTES }), crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return headerText(Buffer.from(line));
  }
  return '';
}

export async function readStagedMap(mapPath: string): Promise<StagedFile[]> {
  const files: StagedFile[] = [];
  const lines = createInterface({ input: createReadStream(mapPath), crlfDelay: Infinity });
  for await (const line of lines) if (line) files.push(JSON.parse(line) as StagedFile);
  return files;
}

/** The file and its own line for a line of the staged file. */
export function locateLine(files: readonly StagedFile[], stagedLine: number): { index: number; file: StagedFile; line: number } | undefined {
  let lo = 0;
  let hi = files.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (files[mid]!.stagedStartLine <= stagedLine) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return undefined;
  const file = files[found]!;
  return { index: found, file, line: stagedLine - file.stagedStartLine + file.localStartLine };
}
