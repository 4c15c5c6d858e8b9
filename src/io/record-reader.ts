/**
 * Re-reads one planned chunk and yields its records, streaming, with memory bounded by the largest record.
 *
 * Records are split with the planner's own scanner (so record indexes match the plan exactly) and CSV fields with
 * its RFC 4180 splitter, one record at a time. csv-parse's streaming parser was measured and not used: it loses
 * valid rows after a bad quote even with `skip_records_with_error` (it resynchronises at the wrong newline), and it
 * was several times slower than this reader (bench/README.md, "Design measurements"). csv-parse stays as the
 * reference this splitter is tested against (test/unit/csv-differential.test.ts), a development dependency.
 * Per record, an invalid row becomes an error item and the next row is read normally: invalid rows never stop an import.
 */
import type { InputFormat } from '../core/types';
import type { ByteSource } from './byte-source';
import { RecordScanner, decodeRecord, isBlankBytes, readCsvHeader, skipBom, splitCsvFields } from './chunk-planner';

export interface RawRecord {
  /** 1-based physical line where the record starts. */
  line: number;
  /** 0-based index among the file's data records (blank lines excluded), the same numbering as the plan. */
  recordIndex: number;
  /** The record's text without its line terminator. */
  raw: string;
  /** CSV fields, as many as the header has columns. */
  values?: string[];
}

export interface RecordError {
  line: number;
  recordIndex: number;
  raw: string;
  error: string;
}

export interface ChunkRange {
  startByte: number;
  endByte: number;
  firstLine: number;
  firstRecord: number;
}

export interface ReadRecordsOptions {
  /** CSV field count every record must have; read from the file's header when omitted. */
  expectedFields?: number;
  /** Longer records become error items without being held in memory. */
  maxRecordBytes?: number;
}

/**
 * 1 MiB: far above Segment's 32 KB event limit, so no sendable row is refused, while a file with an unterminated
 * quote cannot make one "record" of the whole remaining file.
 */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/**
 * Records are handed over in arrays of at most this many, whatever the size of the pieces read: a chunk holds the
 * rest of an array while it waits for Segment to answer a batch, and rows kept alive across that wait are promoted to
 * the old generation, which then grows (docs/footprint.md, "Memory"). About 60 KB of typical rows.
 */
const RECORDS_PER_YIELD = 256;
/** How much of an oversized record an error item keeps, enough to find the row by eye. */
const OVERSIZED_PREVIEW_BYTES = 1024;

export function isRecordError(item: RawRecord | RecordError): item is RecordError {
  return 'error' in item;
}

/** One record at a time: convenient for tests and small inputs. */
export async function* readRecords(
  source: ByteSource,
  chunk: ChunkRange,
  format: InputFormat,
  options: ReadRecordsOptions = {},
): AsyncGenerator<RawRecord | RecordError> {
  for await (const records of readRecordBatches(source, chunk, format, options)) yield* records;
}

/**
 * The records of each piece read from the source, as one array. The importer's hot path uses this: an async
 * generator pays a few promises per `yield`, and with the async hooks a Temporal worker installs, one yield per
 * record cost more than parsing the record.
 */
export async function* readRecordBatches(
  source: ByteSource,
  chunk: ChunkRange,
  format: InputFormat,
  options: ReadRecordsOptions = {},
): AsyncGenerator<Array<RawRecord | RecordError>> {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const expectedFields = format === 'csv' ? (options.expectedFields ?? (await readCsvHeader(source)).columns.length) : undefined;
  const parseText = textParser(format, expectedFields);
  // Same rule as the planner, so a hand-made range from byte 0 does not turn the BOM into record text.
  const start = await skipBom(source, chunk.startByte, chunk.endByte);
  const scanner = RecordScanner.forFormat(format);
  const spanning = new SpanningRecord(maxRecordBytes);
  let line = chunk.firstLine;
  let recordIndex = chunk.firstRecord;
  let remaining = chunk.endByte - start;

  /**
   * `bytes[from, to)` holds the record, or its first `maxRecordBytes` when `byteLength` is larger.
   * Blank records give undefined: they advance the line number but not the record index, as in the plan.
   */
  const completeRecord = (
    bytes: Buffer,
    from: number,
    to: number,
    blank: boolean,
    byteLength: number,
    lines: number,
  ): RawRecord | RecordError | undefined => {
    const item = blank ? undefined : recordItem(bytes, from, to, byteLength);
    if (item) recordIndex++;
    line += lines;
    return item;
  };
  const recordItem = (bytes: Buffer, from: number, to: number, byteLength: number): RawRecord | RecordError => {
    if (byteLength > maxRecordBytes) {
      // The same preview whatever the Buffer boundaries were, and no half character at its end.
      const previewEnd = wholeCharactersEnd(bytes, from, Math.min(to, from + Math.min(maxRecordBytes, OVERSIZED_PREVIEW_BYTES)));
      const preview = decodeRecord(bytes, from, previewEnd).text;
      return { line, recordIndex, raw: `${preview}…`, error: `record is ${byteLength} bytes, over the ${maxRecordBytes}-byte limit` };
    }
    const { text, validUtf8 } = decodeRecord(bytes, from, to);
    if (!validUtf8) return { line, recordIndex, raw: text, error: 'record is not valid UTF-8' };
    return parseText(text, line, recordIndex);
  };

  for await (const piece of source.openRange(start, chunk.endByte)) {
    let records: Array<RawRecord | RecordError> = [];
    // A remote source may send more than asked; bytes past the range belong to the next chunk.
    const buf = piece.length > remaining ? piece.subarray(0, remaining) : piece;
    remaining -= buf.length;
    scanner.beginBuffer(buf);
    let pos = 0;
    while (pos < buf.length) {
      const end = scanner.findRecordEnd(pos);
      let item: RawRecord | RecordError | undefined;
      if (end >= 0 && spanning.isEmpty()) {
        item = completeRecord(buf, pos, end, isBlankBytes(buf, pos, end), end - pos, scanner.completedRecordLines);
      } else {
        spanning.add(buf, pos, end < 0 ? buf.length : end);
        if (end < 0) break;
        const bytes = spanning.keptBytes();
        item = completeRecord(bytes, 0, bytes.length, spanning.blank, spanning.byteLength, scanner.completedRecordLines);
        spanning.clear();
      }
      pos = end;
      if (item) records.push(item);
      if (records.length === RECORDS_PER_YIELD) {
        // The scanner keeps its place in this piece; the source refills its buffer only once the piece is done.
        yield records;
        records = [];
      }
    }
    if (records.length > 0) yield records;
    if (remaining === 0) break;
  }
  if (remaining > 0) {
    throw new Error(
      `${source.description} ended ${remaining} bytes before byte ${chunk.endByte} of the planned chunk; did the file change since planning?`,
    );
  }
  if (!spanning.isEmpty()) {
    // The range's last record has no `\n`: end of file, or an unterminated quote the splitter will report.
    const bytes = spanning.keptBytes();
    const item = completeRecord(bytes, 0, bytes.length, spanning.blank, spanning.byteLength, scanner.unterminatedRecordLines());
    if (item) yield [item];
  }
}

function textParser(
  format: InputFormat,
  expectedFields: number | undefined,
): (raw: string, line: number, recordIndex: number) => RawRecord | RecordError {
  if (format === 'ndjson') return (raw, line, recordIndex) => ({ line, recordIndex, raw });
  return (raw, line, recordIndex) => {
    const fields = splitCsvFields(raw);
    if (fields.error !== undefined) return { line, recordIndex, raw, error: fields.error };
    if (fields.values.length !== expectedFields) {
      return { line, recordIndex, raw, error: `expected ${expectedFields} fields like the header, found ${fields.values.length}` };
    }
    return { line, recordIndex, raw, values: fields.values };
  };
}

/** `end`, or the start of the UTF-8 sequence that `end` cuts in two. */
function wholeCharactersEnd(bytes: Buffer, from: number, end: number): number {
  let lead = end - 1;
  while (lead > from && end - lead < 4 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  if (lead < from) return end;
  const leadByte = bytes[lead]!;
  const sequenceLength = leadByte >= 0xf0 ? 4 : leadByte >= 0xe0 ? 3 : leadByte >= 0xc0 ? 2 : 1;
  return lead + sequenceLength > end ? lead : end;
}

/**
 * A record that crosses stream Buffers: copies of its bytes (a source may reuse its Buffers), at most
 * `maxRecordBytes` of them, plus its full length and whether every byte seen is blank.
 */
class SpanningRecord {
  blank = true;
  byteLength = 0;
  private parts: Buffer[] = [];
  private kept = 0;

  constructor(private readonly maxRecordBytes: number) {}

  isEmpty(): boolean {
    return this.byteLength === 0;
  }

  add(buf: Buffer, from: number, to: number): void {
    if (this.blank) this.blank = isBlankBytes(buf, from, to);
    this.byteLength += to - from;
    const keep = Math.min(to - from, this.maxRecordBytes - this.kept);
    if (keep > 0) {
      this.parts.push(Buffer.from(buf.subarray(from, from + keep)));
      this.kept += keep;
    }
  }

  keptBytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  clear(): void {
    this.blank = true;
    this.byteLength = 0;
    this.parts = [];
    this.kept = 0;
  }
}
