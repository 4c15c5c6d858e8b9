/**
 * Where import input bytes come from. Planning and sending activities only ever ask for a byte range, so a kind of
 * input is one `ByteSource` (local-file-source.ts, http-source.ts) that open-byte-source.ts picks by location;
 * nothing above these files needs to change for a new one.
 */

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

/** The one range check every source makes before reading. */
export function assertValidRange(start: number, endExclusive: number, description: string): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endExclusive) || start < 0 || endExclusive < start) {
    throw new RangeError(`Invalid byte range [${start}, ${endExclusive}) for ${description}`);
  }
}
