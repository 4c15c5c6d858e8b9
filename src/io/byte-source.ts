/**
 * Where import input bytes come from. Planning and sending activities only ever ask for a byte range, so a remote
 * source (HTTP range requests, object storage) can be added by implementing `ByteSource` and teaching
 * `openByteSource` its scheme; nothing above this file needs to change.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HttpRangeSource } from './http-source';
import { displayLocation } from '../core/location';

export interface ByteSource {
  /** Names the input in error messages and logs (a path or URL, never credentials). */
  readonly description: string;
  size(): Promise<number>;
  /**
   * What identifies this content version, or undefined when the source cannot tell: a local file's inode and
   * modification time, an object's ETag (or Last-Modified). A job records it when it inspects the input and every
   * later read compares it, so an overwrite of the same size between reads fails the job instead of being sent
   * (docs/input-pinning.md).
   */
  version(): Promise<string | undefined>;
  /**
   * Streams bytes [start, endExclusive). Breaking out of the iteration must release the underlying resource,
   * which `for await` does by calling `return()` on the iterator. A source may refill the same Buffer for each
   * piece, so consumers copy what they keep past the next iteration.
   */
  openRange(start: number, endExclusive: number): AsyncIterable<Buffer>;
}

/**
 * 64 KiB reads (Node's default). On a 1 GB file, 1 MiB reads planned faster (NDJSON ~2 GB/s vs ~1 GB/s) but made
 * a record-reading process peak at ~110 MB over its start instead of ~40 MB; both read sizes keep planning above
 * 300 MB/s.
 */
const LOCAL_READ_BYTES = 64 * 1024;

export class LocalFileSource implements ByteSource {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = path;
  }

  async size(): Promise<number> {
    return (await stat(this.path)).size;
  }

  async version(): Promise<string> {
    // Whole seconds: tools that copy or restore a modification time (utimes takes float seconds) keep it only to about
    // a millisecond, and some file systems to a second. A rewrite sets it to the time of writing, long after the file
    // was made, so seconds still tell versions apart; same-second tricks on the same inode meet the chunk digests.
    const info = await stat(this.path);
    return `inode ${info.ino} mtime ${Math.floor(info.mtimeMs / 1000)}`;
  }

  openRange(start: number, endExclusive: number): AsyncIterable<Buffer> {
    assertValidRange(start, endExclusive, this.description);
    // fs.createReadStream rejects end < start, so an empty range must not reach it.
    if (endExclusive === start) return emptyIterable();
    return createReadStream(this.path, { start, end: endExclusive - 1, highWaterMark: LOCAL_READ_BYTES });
  }
}

/**
 * Serves a Buffer in pieces of `pieceBytes`. Tests use tiny pieces to push multi-byte characters, quotes and
 * CRLF pairs across stream-chunk boundaries; it also fits small inline inputs.
 */
export class MemoryByteSource implements ByteSource {
  readonly description: string;
  private readonly data: Buffer;
  private readonly pieceBytes: number;

  constructor(data: Buffer | string, options: { pieceBytes?: number; description?: string } = {}) {
    this.data = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.pieceBytes = options.pieceBytes ?? 64 * 1024;
    this.description = options.description ?? 'in-memory input';
    if (!Number.isInteger(this.pieceBytes) || this.pieceBytes < 1) {
      throw new RangeError(`pieceBytes must be a positive integer, got ${this.pieceBytes}`);
    }
  }

  async size(): Promise<number> {
    return this.data.length;
  }

  async version(): Promise<undefined> {
    return undefined;
  }

  openRange(start: number, endExclusive: number): AsyncIterable<Buffer> {
    assertValidRange(start, endExclusive, this.description);
    const { data, pieceBytes } = this;
    const end = Math.min(endExclusive, data.length);
    return (async function* pieces() {
      for (let offset = start; offset < end; offset += pieceBytes) {
        yield data.subarray(offset, Math.min(offset + pieceBytes, end));
      }
    })();
  }
}

/**
 * Resolves an import location to a source. Only local files for now (plain paths or file:// URLs); remote
 * schemes fail loudly here rather than later inside an activity retry loop.
 */
export function openByteSource(location: string, options: { pinnedVersion?: string } = {}): ByteSource {
  if (/^https?:\/\//i.test(location)) return new HttpRangeSource(location, { pinnedVersion: options.pinnedVersion });
  if (/^file:\/\//i.test(location)) return new LocalFileSource(fileURLToPath(location));
  // Two or more letters before "://" is a URL scheme; a single letter would be a Windows drive.
  const scheme = /^([a-z][a-z0-9+.-]+):\/\//i.exec(location)?.[1];
  if (scheme !== undefined) {
    throw new Error(`Unsupported import location scheme "${scheme}://" in ${displayLocation(location)}; use a local file path`);
  }
  return new LocalFileSource(location);
}

function assertValidRange(start: number, endExclusive: number, description: string): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endExclusive) || start < 0 || endExclusive < start) {
    throw new RangeError(`Invalid byte range [${start}, ${endExclusive}) for ${description}`);
  }
}

async function* emptyIterable(): AsyncGenerator<Buffer> {}
