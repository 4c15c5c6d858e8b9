/** A local path (or one on a shared mount) as a ByteSource; its version is the inode and modification time. */
import { open, stat } from 'node:fs/promises';
import { assertValidRange, type ByteSource } from './byte-source';

/**
 * 256 KiB reads. Each read costs the main thread ~55 µs whatever its size up to here (a 1M-event file, 234 MB, took
 * 202 ms of CPU to read in 64 KiB reads, 74 ms in 256 KiB reads, 51 ms in 1 MiB ones, and every import reads its
 * file twice: planning, then the chunks). 1 MiB reads made a record-reading process peak far higher, because each
 * piece becomes one array of records (bench/README.md, "Design measurements"). One buffer per open range is
 * refilled for every piece, as the ByteSource contract allows (src/io/byte-source.ts): a read stream allocates a new
 * buffer per read, and planning a large file that way left tens of MB of garbage buffers at the start of every import
 * (docs/footprint.md, "Memory").
 */
const LOCAL_READ_BYTES = 256 * 1024;

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
    return readRange(this.path, start, endExclusive);
  }
}

async function* readRange(path: string, start: number, endExclusive: number): AsyncGenerator<Buffer> {
  if (endExclusive === start) return;
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(LOCAL_READ_BYTES, endExclusive - start));
    for (let position = start; position < endExclusive;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, endExclusive - position), position);
      // A file shorter than the range ends the pieces early; every reader checks it got the bytes it planned for.
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
