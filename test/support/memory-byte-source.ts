/**
 * An in-memory input for tests of the readers and the chunk sender (src/io/byte-source.ts describes `ByteSource`).
 */
import { assertValidRange, type ByteSource } from '../../src/io/byte-source';

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
