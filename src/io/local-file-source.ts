/** A local path (or one on a shared mount) as a ByteSource; its version is the inode and modification time. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { assertValidRange, type ByteSource } from './byte-source';

/**
 * 64 KiB reads (Node's default). 1 MiB reads planned faster but made a record-reading process peak far higher, and
 * both sizes keep planning well ahead of sending (bench/README.md, "Design measurements").
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

async function* emptyIterable(): AsyncGenerator<Buffer> {}
