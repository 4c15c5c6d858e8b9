/**
 * Chunk planning: one streaming pass over the input that cuts it into byte ranges on record boundaries, so each
 * sending activity re-reads only its own range. Workflows see these small descriptors, never event data: Temporal
 * history must carry references, not records (docs/temporal-notes.md, "Limits").
 *
 * The byte-level record scanner and the CSV field splitter live here too, and the record reader uses the same
 * ones: planner and reader must agree on every record boundary and record index, or anything derived from a record
 * index (messageIds, reject reports) would shift between planning and sending.
 */
import { isUtf8 } from 'node:buffer';
import type { ChunkDescriptor, InputFormat, PlannerCursor } from '../contracts/import-job';
import type { ByteSource } from './byte-source';

export interface CsvHeaderInfo {
  columns: string[];
  dataStartByte: number;
  dataStartLine: number;
}

export interface PlanChunksOptions {
  format: InputFormat;
  from: PlannerCursor;
  /** Index given to the first chunk of this call, so resumed planning continues the numbering. */
  firstIndex: number;
  /** Stop after this many chunks and return `next`; keeps one planning activity's result small. */
  maxChunks: number;
  targetChunkBytes: number;
  maxRecordsPerChunk: number;
}

export interface PlanChunksResult {
  chunks: ChunkDescriptor[];
  /** null once the chunks reach the end of the file. */
  next: PlannerCursor | null;
  fileSize: number;
}

const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A header this long means an unterminated quote or not a CSV file; reading on would read the whole file. */
const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * Finds record ends in a byte stream without decoding it, fed one Buffer at a time (`beginBuffer`), carrying quote
 * state across Buffers. NDJSON: every `\n` ends a record. CSV: a `\n` ends a record unless it is inside a quoted
 * field; a `\r` before it stays part of the record.
 *
 * A quote opens a quoted field only at the start of a field (or right after a closing quote, which is how `""` keeps
 * the field open). A stray quote inside an unquoted field, like `27" monitor`, is literal here: with a plain toggle it
 * would flip the quote state for the rest of the file and merge every later row into garbage. For valid RFC 4180
 * input both rules give the same boundaries; the field splitter still rejects the stray quote for that one record.
 *
 * Speed: newlines are found with Buffer#indexOf (memchr). A CSV record with no quote before its newline (the next
 * quote position is cached per Buffer) needs nothing more; one with quotes is walked byte by byte, because jumping
 * from quote to quote with indexOf was slower on rows with a quoted JSON column: each native call costs more than
 * the few bytes it skips (bench/README.md, "Design measurements").
 */
export class RecordScanner {
  /** Physical lines of the record that the last successful `findRecordEnd` completed. */
  completedRecordLines = 0;

  private buf: Buffer = Buffer.alloc(0);
  /** Index of the first quote at or after the last lookup in `buf` (`buf.length` if none): -1 means not looked up yet. */
  private nextQuote = -1;
  private inQuotes = false;
  /** Index in `buf` of the quote that last closed a quoted field; -1 means the last byte of the previous Buffer. */
  private closingQuoteAt = -2;
  private byteBeforeBuffer = LF;
  /** Read when the Buffer arrives: a source may refill the same Buffer for the next piece. */
  private lastByteOfBuffer = LF;
  private newlinesInQuotes = 0;

  constructor(private readonly quoteAware: boolean) {}

  static forFormat(format: InputFormat): RecordScanner {
    return new RecordScanner(format === 'csv');
  }

  beginBuffer(buf: Buffer): void {
    if (buf.length === 0) return;
    const previousLength = this.buf.length;
    if (previousLength > 0) {
      this.byteBeforeBuffer = this.lastByteOfBuffer;
      this.closingQuoteAt = this.closingQuoteAt === previousLength - 1 ? -1 : -2;
    }
    this.buf = buf;
    this.lastByteOfBuffer = buf[buf.length - 1]!;
    this.nextQuote = -1;
  }

  /** Index just past the next record's `\n`, scanning the current Buffer from `from`; -1 if the Buffer ends mid-record. */
  findRecordEnd(from: number): number {
    const buf = this.buf;
    const length = buf.length;
    if (!this.quoteAware) {
      const newline = buf.indexOf(LF, from);
      if (newline < 0) return -1;
      this.completedRecordLines = 1;
      return newline + 1;
    }
    let scanFrom = from;
    if (!this.inQuotes) {
      const newline = buf.indexOf(LF, from);
      scanFrom = this.quoteAtOrAfter(from);
      if (scanFrom >= (newline < 0 ? length : newline)) {
        // No quote before the newline: nothing can change the record's end.
        if (newline < 0) return -1;
        this.completedRecordLines = this.newlinesInQuotes + 1;
        this.newlinesInQuotes = 0;
        return newline + 1;
      }
    }
    let inQuotes = this.inQuotes;
    let closingQuoteAt = this.closingQuoteAt;
    for (let i = scanFrom; i < length; i++) {
      const byte = buf[i]!;
      // Every byte that matters (LF, quote) is <= 0x22; letters, digits and commas leave here.
      if (byte > QUOTE) continue;
      if (byte === QUOTE) {
        if (inQuotes) {
          inQuotes = false;
          closingQuoteAt = i;
        } else {
          const before = i > 0 ? buf[i - 1] : this.byteBeforeBuffer;
          inQuotes = before === COMMA || before === LF || closingQuoteAt === i - 1;
        }
      } else if (byte === LF) {
        if (inQuotes) {
          this.newlinesInQuotes++;
        } else {
          this.inQuotes = false;
          this.closingQuoteAt = closingQuoteAt;
          this.completedRecordLines = this.newlinesInQuotes + 1;
          this.newlinesInQuotes = 0;
          return i + 1;
        }
      }
    }
    this.inQuotes = inQuotes;
    this.closingQuoteAt = closingQuoteAt;
    return -1;
  }

  private quoteAtOrAfter(pos: number): number {
    if (this.nextQuote < pos) {
      const found = this.buf.indexOf(QUOTE, pos);
      this.nextQuote = found < 0 ? this.buf.length : found;
    }
    return this.nextQuote;
  }

  /** Physical lines of a record cut short by the end of input (last line without `\n`, or an unterminated quote). */
  unterminatedRecordLines(): number {
    // Inside an unterminated quote, a final `\n` ends the last physical line rather than starting another.
    return this.lastByteOfBuffer === LF ? this.newlinesInQuotes : this.newlinesInQuotes + 1;
  }
}

/** Blank lines (only spaces, tabs, CR, LF) count as lines but not as records, in both formats. */
export function isBlankBytes(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const byte = buf[i];
    if (byte !== SPACE && byte !== TAB && byte !== CR && byte !== LF) return false;
  }
  return true;
}

export type CsvFieldsResult = { values: string[]; error?: undefined } | { values?: undefined; error: string };

/**
 * Splits one CSV record (without its line terminator) into fields, RFC 4180: comma-separated, a field that starts
 * with `"` runs to the matching `"`, `""` inside it is one quote, and newlines inside it are data. Anything else
 * with a quote is rejected with a reason a user can act on, instead of being guessed at.
 */
export function splitCsvFields(text: string): CsvFieldsResult {
  if (!text.includes('"')) return { values: text.split(',') };
  const values: string[] = [];
  let pos = 0;
  let nextQuote = text.indexOf('"');
  for (;;) {
    const fieldNumber = values.length + 1;
    if (pos === nextQuote) {
      let value = '';
      let segmentStart = pos + 1;
      for (;;) {
        const quote = text.indexOf('"', segmentStart);
        if (quote < 0) return { error: `field ${fieldNumber} opens a quote that is never closed` };
        if (text.charCodeAt(quote + 1) === QUOTE) {
          value += text.slice(segmentStart, quote + 1);
          segmentStart = quote + 2;
          continue;
        }
        value += text.slice(segmentStart, quote);
        pos = quote + 1;
        break;
      }
      values.push(value);
      if (pos === text.length) return { values };
      if (text.charCodeAt(pos) !== COMMA) {
        return { error: `field ${fieldNumber} has text after its closing quote; write a quote inside a quoted field as ""` };
      }
      pos++;
      nextQuote = text.indexOf('"', pos);
    } else {
      const comma = text.indexOf(',', pos);
      const fieldEnd = comma < 0 ? text.length : comma;
      if (nextQuote >= 0 && nextQuote < fieldEnd) {
        return { error: `field ${fieldNumber} contains a quote but does not start with one; quote the whole field and double inner quotes ("")` };
      }
      values.push(text.slice(pos, fieldEnd));
      if (comma < 0) return { values };
      pos = comma + 1;
    }
  }
}

/**
 * Decodes a record's bytes to text without its `\n` / `\r\n`. Records are cut at `\n` bytes, which never occur
 * inside a multi-byte UTF-8 sequence, so decoding per record is exact. Invalid bytes are flagged rather than
 * silently replaced with U+FFFD, which would send corrupted values to Segment.
 */
export function decodeRecord(bytes: Buffer, from = 0, to = bytes.length): { text: string; validUtf8: boolean } {
  let end = to;
  if (end > from && bytes[end - 1] === LF) end--;
  if (end > from && bytes[end - 1] === CR) end--;
  const text = bytes.toString('utf8', from, end);
  // U+FFFD can be genuine data, so only then pay for the exact check.
  const validUtf8 = !text.includes('\uFFFD') || isUtf8(bytes.subarray(from, end));
  return { text, validUtf8 };
}

/** The first data byte at `start`: skips a UTF-8 BOM when `start` is the beginning of the file. */
export async function skipBom(source: ByteSource, start: number, fileSize: number): Promise<number> {
  if (start !== 0 || fileSize < UTF8_BOM.length) return start;
  const head: Buffer[] = [];
  for await (const piece of source.openRange(0, UTF8_BOM.length)) head.push(Buffer.from(piece));
  return Buffer.concat(head).equals(UTF8_BOM) ? UTF8_BOM.length : 0;
}

/** Reads the header row: the first non-blank record, BOM stripped, quotes honoured. */
export async function readCsvHeader(source: ByteSource): Promise<CsvHeaderInfo> {
  const fileSize = await source.size();
  const start = await skipBom(source, 0, fileSize);
  const scanEnd = Math.min(fileSize, start + MAX_HEADER_BYTES);
  const scanner = new RecordScanner(true);
  let line = 1;
  let parts: Buffer[] = [];
  let base = start;

  const headerOrBlank = (dataStartByte: number, lines: number): CsvHeaderInfo | undefined => {
    const bytes = Buffer.concat(parts);
    if (isBlankBytes(bytes, 0, bytes.length)) return undefined;
    const { text, validUtf8 } = decodeRecord(bytes);
    if (!validUtf8) throw new Error(`CSV header of ${source.description} (line ${line}) is not valid UTF-8`);
    const fields = splitCsvFields(text);
    if (fields.error !== undefined) throw new Error(`Invalid CSV header in ${source.description} (line ${line}): ${fields.error}`);
    return { columns: fields.values, dataStartByte, dataStartLine: line + lines };
  };

  for await (const buf of source.openRange(start, scanEnd)) {
    scanner.beginBuffer(buf);
    let pos = 0;
    while (pos < buf.length) {
      const end = scanner.findRecordEnd(pos);
      // Copied: a source may reuse its Buffers once we ask for the next one.
      parts.push(Buffer.from(buf.subarray(pos, end < 0 ? buf.length : end)));
      if (end < 0) break;
      const header = headerOrBlank(base + end, scanner.completedRecordLines);
      if (header) return header;
      line += scanner.completedRecordLines;
      parts = [];
      pos = end;
    }
    base += buf.length;
  }
  if (scanEnd < fileSize) {
    throw new Error(
      `No CSV header row ends within the first ${MAX_HEADER_BYTES} bytes of ${source.description}; ` +
        'check for an unterminated quote in the header',
    );
  }
  const header = parts.length > 0 ? headerOrBlank(fileSize, scanner.unterminatedRecordLines()) : undefined;
  if (!header) throw new Error(`CSV input ${source.description} is empty: expected a header row`);
  return header;
}

/** Where planning starts. NDJSON starts at byte 0; `planChunks` skips a BOM there, which needs a read. */
export function initialCursor(format: InputFormat, header?: CsvHeaderInfo): PlannerCursor {
  if (format === 'ndjson') return { byte: 0, line: 1, record: 0 };
  if (!header) throw new Error('CSV planning starts after the header row: pass the result of readCsvHeader()');
  return { byte: header.dataStartByte, line: header.dataStartLine, record: 0 };
}

/**
 * Scans from `from` and returns up to `maxChunks` chunks. A chunk closes at the first record boundary where it holds
 * `targetChunkBytes` bytes or `maxRecordsPerChunk` records. Planning again from the returned `next` gives exactly the
 * chunks a single longer pass would have given, so a workflow can plan page by page.
 */
export async function planChunks(source: ByteSource, opts: PlanChunksOptions): Promise<PlanChunksResult> {
  assertPositiveInteger('maxChunks', opts.maxChunks);
  assertPositiveInteger('targetChunkBytes', opts.targetChunkBytes);
  assertPositiveInteger('maxRecordsPerChunk', opts.maxRecordsPerChunk);
  const fileSize = await source.size();
  const { from } = opts;
  if (!Number.isSafeInteger(from.byte) || from.byte < 0 || from.byte > fileSize) {
    throw new RangeError(`Planner cursor byte ${from.byte} is outside ${source.description} (${fileSize} bytes); did the file change?`);
  }
  const start = await skipBom(source, from.byte, fileSize);

  const chunks: ChunkDescriptor[] = [];
  const scanner = RecordScanner.forFormat(opts.format);
  let chunkStart = start;
  let chunkFirstLine = from.line;
  let chunkFirstRecord = from.record;
  let chunkRecords = 0;
  let chunkLines = 0;
  let recordStart = start;
  let recordIsBlank = true;

  const closeChunk = (endByte: number): void => {
    chunks.push({
      index: opts.firstIndex + chunks.length,
      startByte: chunkStart,
      endByte,
      firstLine: chunkFirstLine,
      firstRecord: chunkFirstRecord,
      records: chunkRecords,
      lines: chunkLines,
    });
    chunkStart = endByte;
    chunkFirstLine += chunkLines;
    chunkFirstRecord += chunkRecords;
    chunkRecords = 0;
    chunkLines = 0;
  };
  const endRecord = (recordEnd: number, lines: number): void => {
    chunkLines += lines;
    if (!recordIsBlank) chunkRecords++;
    recordIsBlank = true;
    recordStart = recordEnd;
    if (recordEnd - chunkStart >= opts.targetChunkBytes || chunkRecords >= opts.maxRecordsPerChunk) closeChunk(recordEnd);
  };

  let base = start;
  for await (const buf of source.openRange(start, fileSize)) {
    scanner.beginBuffer(buf);
    let pos = 0;
    while (pos < buf.length) {
      const end = scanner.findRecordEnd(pos);
      if (recordIsBlank) recordIsBlank = isBlankBytes(buf, pos, end < 0 ? buf.length : end);
      if (end < 0) break;
      endRecord(base + end, scanner.completedRecordLines);
      if (chunks.length === opts.maxChunks) {
        // Returning inside for-await closes the stream, so a paged plan reads little past its last chunk.
        const next = chunkStart < fileSize ? { byte: chunkStart, line: chunkFirstLine, record: chunkFirstRecord } : null;
        return { chunks, next, fileSize };
      }
      pos = end;
    }
    base += buf.length;
  }
  if (base !== fileSize) {
    throw new Error(`Read ${base - start} bytes of ${source.description} from byte ${start}, expected ${fileSize - start}; did the file change?`);
  }
  // A last line without `\n` (or an unterminated quote) is still a record; the reader rejects it if it is broken.
  if (recordStart < fileSize) endRecord(fileSize, scanner.unterminatedRecordLines());
  // Trailing records (or only blank lines) that did not fill a chunk: every byte must belong to some chunk.
  if (chunkStart < fileSize) closeChunk(fileSize);
  return { chunks, next: null, fileSize };
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}
