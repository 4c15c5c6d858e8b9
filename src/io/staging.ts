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
 * file; a new attempt truncates both files to it and continues with the next file (or starts over when they are gone).
 * Memory stays bounded by stream back-pressure.
 *
 * Bounded: anyone who can start a job names its input, and 194 KB of gzip can hold 200 MB of newlines. Decompressed
 * bytes are counted as they come out of the decompressor, against a total and a ratio (STAGING_LIMITS), and a
 * failure retrying cannot fix removes what was staged. Every stream has an error listener from its creation: a
 * read, decompression or write error fails the attempt, never the worker process.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ConfigError, stagingLimits } from '../config';
import { FailureType } from '../contracts/failures';
import { isHttpLocation } from '../shared/location';
import { STAGING_LIMITS, type StagingLimits } from '../shared/limits';
import type { InputFormat } from '../core/types';
import { openByteSource } from './open-byte-source';
import { InputNotAllowedError } from './input-policy';
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

/** A staging failure retrying cannot fix; the activity fails with `failureType`, and the staged files are removed. */
export class StagingError extends Error {
  constructor(
    message: string,
    readonly failureType: FailureType,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
/** The input cannot be staged as it is (not gzip, a second CSV header, over a staging limit). */
export class StagingInputError extends StagingError {
  constructor(message: string) {
    super(message, FailureType.InputInvalid);
  }
}
export class StagingInputChangedError extends StagingError {
  constructor(message: string) {
    super(message, FailureType.InputChanged);
  }
}

/** ENOSPC, EDQUOT: another attempt would meet the same full disk (or quota), so the job says so instead of retrying. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

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

/**
 * A file being staged. The stream's error is recorded from the moment it exists (an open that fails, a write that
 * meets a full disk) and thrown by the next write or flush: with no listener, Node would throw it out of the event
 * loop and end the worker process.
 */
class StagedFileWriter {
  private readonly stream: WriteStream;
  private failure: Error | undefined;
  /** Settles once the stream has closed: after its 'error', if it failed. */
  private readonly closed: Promise<void>;

  constructor(
    readonly path: string,
    append: boolean,
  ) {
    this.stream = createWriteStream(path, { flags: append ? 'a' : 'w' });
    this.stream.on('error', (error) => {
      this.failure ??= error;
    });
    this.closed = new Promise((resolveClose) => this.stream.once('close', () => resolveClose()));
  }

  async write(data: Buffer | string): Promise<void> {
    await this.throwIfFailed();
    if (!this.stream.write(data)) {
      let onDrain: (() => void) | undefined;
      await Promise.race([new Promise<void>((resolveDrain) => this.stream.once('drain', (onDrain = resolveDrain))), this.closed]);
      this.stream.off('drain', onDrain!);
      await this.throwIfFailed();
    }
  }

  /** Everything written so far is on disk (or its error thrown). */
  async flush(): Promise<void> {
    await this.throwIfFailed();
    const error = await new Promise<Error | null | undefined>((resolveWrite) => this.stream.write('', resolveWrite));
    if (error) {
      await this.throwIfFailed();
      throw error;
    }
  }

  async close(): Promise<void> {
    if (!this.stream.destroyed) this.stream.end();
    await this.closed;
  }

  /** A destroyed stream's 'error' comes a tick after the write that failed: wait for it to close, then throw it. */
  private async throwIfFailed(): Promise<void> {
    if (!this.stream.destroyed && this.failure === undefined) return;
    await this.closed;
    throw this.failure ?? new Error(`${this.path} was closed while staging`);
  }
}

function describeBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/** The limits' verdict on a file that has produced `out` bytes from `compressedIn` consumed, the job `total` so far. */
export function stagingLimitProblem(
  entry: Pick<InputEntry, 'name' | 'gzip'>,
  progress: { out: number; compressedIn: number; total: number },
  limits: StagingLimits,
): string | undefined {
  if (progress.total > limits.maxBytes) {
    return (
      `${entry.name}: staging this job's input would pass ${describeBytes(limits.maxBytes)} of decompressed data (the worker's ` +
      'SEGFLOW_STAGING_MAX_BYTES); split the import, or raise SEGFLOW_STAGING_MAX_BYTES on the workers if their disk holds it'
    );
  }
  if (entry.gzip && progress.out >= STAGING_LIMITS.ratioCheckAfterBytes && progress.out > limits.maxRatio * progress.compressedIn) {
    return (
      `${entry.name}: decompresses to more than ${limits.maxRatio} times its compressed size (${describeBytes(progress.out)} from ` +
      `its first ${describeBytes(progress.compressedIn)}), which real exports never do (a gzip bomb?); if the file is genuine, ` +
      'raise SEGFLOW_STAGING_MAX_RATIO on the workers'
    );
  }
  return undefined;
}

export interface StageInputsOptions {
  entries: readonly InputEntry[];
  format: InputFormat;
  stagedPath: string;
  mapPath: string;
  checkpoint?: StageCheckpoint;
  /** Called at each file boundary with a checkpoint, and every few MB in between (same checkpoint). */
  onProgress: (checkpoint: StageCheckpoint) => void;
  signal?: AbortSignal;
  /**
   * The worker's environment: its staging limits (src/config.ts stagingLimits) and the input policy every URL
   * connection obeys (src/io/input-policy.ts). Unset: the default limits and no policy (tests of staging alone).
   */
  env?: NodeJS.ProcessEnv;
}

export async function stageInputs(options: StageInputsOptions): Promise<{ checkpoint: StageCheckpoint; files: StagedFile[]; digest: string }> {
  const { stagedPath, mapPath } = options;
  try {
    return await stageAll(options);
  } catch (error) {
    const failure = asStagingError(error, options);
    // Nothing will resume from a copy that cannot be finished, and it is customer data (and maybe a disk's worth).
    if (failure instanceof StagingError) await Promise.all([rm(stagedPath, { force: true }), rm(mapPath, { force: true })]).catch(() => undefined);
    throw failure;
  }
}

function asStagingError(error: unknown, options: StageInputsOptions): unknown {
  if (error instanceof StagingError) return error;
  if (error instanceof InputNotAllowedError) return new StagingError(error.message, FailureType.InputNotAllowed);
  if (error instanceof ConfigError) return new StagingError(error.message, FailureType.InvalidConfig);
  const code = (error as { code?: string }).code;
  if (code !== undefined && DISK_FULL_CODES.has(code)) {
    const what = code === 'EDQUOT' ? 'the disk quota is used up' : 'no space is left on the device';
    return new StagingError(
      `Cannot stage the input in ${dirname(options.stagedPath)}: ${what} (${code}); free space there, or point the workers' ` +
        'SEGFLOW_REPORT_DIR at a larger volume, then start the import again',
      FailureType.StagingDiskFull,
    );
  }
  return error;
}

/** Whether the staged files hold at least what the checkpoint says they do (a resumed attempt may find them gone). */
async function holdsCheckpoint(stagedPath: string, mapPath: string, checkpoint: StageCheckpoint): Promise<boolean> {
  try {
    const [staged, map] = await Promise.all([stat(stagedPath), stat(mapPath)]);
    return staged.size >= checkpoint.bytesWritten && map.size >= checkpoint.mapBytes;
  } catch {
    return false;
  }
}

async function stageAll(options: StageInputsOptions): Promise<{ checkpoint: StageCheckpoint; files: StagedFile[]; digest: string }> {
  const { entries, format, stagedPath, mapPath, onProgress, signal, env } = options;
  const limits = stagingLimits(env ?? {});
  await mkdir(dirname(stagedPath), { recursive: true });
  await mkdir(dirname(mapPath), { recursive: true });
  // Files lost since the checkpoint (another host's disk, a cleaned-up directory) mean starting over.
  const resuming = options.checkpoint !== undefined && (await holdsCheckpoint(stagedPath, mapPath, options.checkpoint));
  const checkpoint: StageCheckpoint = resuming ? { ...options.checkpoint! } : { filesDone: 0, bytesWritten: 0, linesWritten: 0, mapBytes: 0 };
  if (resuming) {
    // What a dead attempt wrote after its last checkpoint is thrown away.
    await truncate(stagedPath, checkpoint.bytesWritten);
    await truncate(mapPath, checkpoint.mapBytes);
  }
  const out = new StagedFileWriter(stagedPath, resuming);
  const mapOut = new StagedFileWriter(mapPath, resuming);
  try {
    let firstHeader: string | undefined;
    if (format === 'csv' && checkpoint.filesDone > 0) firstHeader = await readFirstLine(stagedPath);
    for (let index = checkpoint.filesDone; index < entries.length; index++) {
      const entry = entries[index]!;
      const local = !isHttpLocation(entry.location);
      const before = local ? await stat(entry.location) : undefined;
      const source = openByteSource(entry.location, env ? { inputPolicy: env } : {});
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
      const gunzip = entry.gzip ? createGunzip() : undefined;
      const stream = gunzip ? raw.pipe(gunzip) : raw;
      raw.on('error', (error) => stream.destroy(error));

      const dropHeader = format === 'csv' && index > 0;
      let headerParts: Buffer[] | undefined = dropHeader ? [] : undefined;
      let headerBytes = 0;
      let fileLines = 0;
      let lastByte = LF;
      let wrote = false;
      let sinceProgress = 0;
      // Decompressed bytes of this file, dropped header included: what the ratio limit judges.
      let produced = 0;
      // The checkpoint moves only at file boundaries: until this file is complete it says "start this file again".
      let fileBytes = 0;
      const stagedStartLine = checkpoint.linesWritten + 1;
      try {
        for await (const piece of stream as AsyncIterable<Buffer>) {
          if (signal?.aborted) throw new Error('staging cancelled');
          produced += piece.length;
          const problem = stagingLimitProblem(
            entry,
            // bytesWritten: compressed bytes the decompressor has consumed, not read ahead (an HTTP window is 4 MiB).
            { out: produced, compressedIn: gunzip?.bytesWritten ?? produced, total: checkpoint.bytesWritten + fileBytes + piece.length },
            limits,
          );
          if (problem !== undefined) throw new StagingInputError(problem);
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
          await out.write(copy);
          fileBytes += copy.length;
          sinceProgress += copy.length;
          if (sinceProgress >= PROGRESS_EVERY_BYTES) {
            sinceProgress = 0;
            onProgress({ ...checkpoint });
          }
        }
      } catch (error) {
        if (error instanceof StagingError) throw error;
        const message = (error as Error).message;
        if (/incorrect header check|unexpected end of file|invalid/i.test(message) && entry.gzip) {
          throw new StagingInputError(`${entry.name}: not a valid gzip file (${message})`);
        }
        throw error;
      } finally {
        // Stops the read (and closes its file or connection) when the loop ended early.
        raw.destroy();
        stream.destroy();
      }
      if (headerParts !== undefined && headerBytes > 0) {
        // A file that is only a header without a newline: compare it all the same.
        const header = headerText(Buffer.concat(headerParts));
        if (header !== firstHeader) throw new StagingInputError(`${entry.name}, line 1 (header): the CSV header differs from the first file's`);
      }
      if (wrote && lastByte !== LF) {
        await out.write('\n');
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
      await mapOut.write(line);
      // Both files must be on disk before the checkpoint that covers them is reported.
      await out.flush();
      await mapOut.flush();
      checkpoint.bytesWritten += fileBytes;
      checkpoint.linesWritten += fileLines;
      checkpoint.mapBytes += Buffer.byteLength(line);
      checkpoint.filesDone = index + 1;
      onProgress({ ...checkpoint });
    }
    await out.flush();
    await mapOut.flush();
  } finally {
    await Promise.all([out.close(), mapOut.close()]);
  }
  const files = await readStagedMap(mapPath);
  return { checkpoint, files, digest: inputSetDigest(files) };
}

/** The staged file's first line (a CSV header), read whole without a stream. */
async function readFirstLine(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_HEADER_BYTES, 0);
    const lf = buffer.subarray(0, bytesRead).indexOf(LF);
    return headerText(buffer.subarray(0, lf === -1 ? bytesRead : lf + 1));
  } finally {
    await handle.close();
  }
}

export async function readStagedMap(mapPath: string): Promise<StagedFile[]> {
  const files: StagedFile[] = [];
  for (const line of (await readFile(mapPath, 'utf8')).split('\n')) if (line) files.push(JSON.parse(line) as StagedFile);
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
