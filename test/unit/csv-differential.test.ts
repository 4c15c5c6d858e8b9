/**
 * Differential test: segflow's own CSV path (the chunk planner's record scanner, the record reader and the RFC 4180
 * field splitter in src/io/) against csv-parse, the reference parser. Thousands of seeded, valid CSV files — quoted
 * fields with commas, doubled quotes, LF / CRLF / CR inside quotes, multi-byte characters, empty fields, a BOM,
 * blank lines, CRLF files, no final newline — are planned into small chunks, read back through tiny stream pieces
 * (so records, quotes and characters straddle every boundary), and must give exactly csv-parse's fields.
 *
 * The one deliberate difference stays out of the generated files: segflow treats a whitespace-only line as blank
 * (skipped, like an empty line), where csv-parse reads it as a record of one space-filled field.
 */
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../support/memory-byte-source';
import type { PlannerCursor } from '../../src/contracts/import-job';
import { initialCursor, planChunks, readCsvHeader } from '../../src/io/chunk-planner';
import { isRecordError, readRecords } from '../../src/io/record-reader';
import { seededRandom } from '../support/seeded-random';

const FILES = 2000;
const SEED = 20261127;

/** Characters fields are made of: plain text, CSV's special characters, whitespace and multi-byte UTF-8. */
const PLAIN = ['a', 'b', 'Z', '0', '9', '-', '_', '.', '@', ':', ' ', '\t', 'é', 'ß', '日本', '😀', '{', '}', "'"];
const SPECIAL = [',', '"', '\n', '\r\n', '\r'];

interface GeneratedFile {
  text: string;
  /** What any correct parser must return: the header, then every record. */
  rows: string[][];
}

function generateFile(random: () => number): GeneratedFile {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const columns = 1 + Math.floor(random() * 7);
  const records = Math.floor(random() * 25);
  const eol = random() < 0.3 ? '\r\n' : '\n';

  const field = (): { value: string; written: string } => {
    const length = Math.floor(random() * 8);
    let value = '';
    const quoted = random() < 0.4;
    for (let i = 0; i < length; i++) value += quoted && random() < 0.3 ? pick(SPECIAL) : pick(PLAIN);
    // An unquoted field cannot hold a quote, comma or line break; a record cannot be all whitespace (see above).
    if (!quoted) return { value, written: value };
    return { value, written: `"${value.replace(/"/g, '""')}"` };
  };
  const row = (): { values: string[]; line: string } => {
    const fields = Array.from({ length: columns }, field);
    let line = fields.map((f) => f.written).join(',');
    if (line.trim() === '') {
      // A whitespace-only record would be blank to segflow: quote its first field instead.
      fields[0] = { value: fields[0]!.value, written: `"${fields[0]!.value}"` };
      line = fields.map((f) => f.written).join(',');
    }
    return { values: fields.map((f) => f.value), line };
  };

  const rows: string[][] = [];
  let text = random() < 0.2 ? '\uFEFF' : '';
  if (random() < 0.1) text += eol;
  for (let i = 0; i <= records; i++) {
    const { values, line } = row();
    rows.push(values);
    text += line;
    const last = i === records;
    if (!last || random() < 0.7) text += eol;
    if (!last && random() < 0.05) text += eol;
  }
  return { text, rows };
}

async function readWithSegflow(text: string, random: () => number): Promise<string[][]> {
  const source = new MemoryByteSource(text, { pieceBytes: 1 + Math.floor(random() * 40) });
  const header = await readCsvHeader(source);
  const rows: string[][] = [header.columns];
  let from: PlannerCursor | null = initialCursor('csv', header);
  while (from) {
    const page = await planChunks(source, {
      format: 'csv',
      from,
      firstIndex: 0,
      maxChunks: 4,
      targetChunkBytes: 1 + Math.floor(random() * 200),
      maxRecordsPerChunk: 1 + Math.floor(random() * 10),
    });
    for (const chunk of page.chunks) {
      for await (const item of readRecords(source, chunk, 'csv', { expectedFields: header.columns.length })) {
        if (isRecordError(item)) throw new Error(`line ${item.line}: ${item.error} in ${JSON.stringify(item.raw)}`);
        rows.push(item.values!);
      }
    }
    from = page.next;
  }
  return rows;
}

describe('CSV: segflow agrees with csv-parse', () => {
  it(`gives csv-parse's fields for ${FILES} generated valid files (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    let records = 0;
    for (let file = 0; file < FILES; file++) {
      const { text, rows } = generateFile(random);
      const reference = parse(text, { bom: true, skip_empty_lines: true }) as string[][];
      // The generator's own expectation first, so a generator bug cannot make both parsers "agree" on nonsense.
      expect(reference, `file ${file}: csv-parse vs generator\n${JSON.stringify(text)}`).toEqual(rows);
      const ours = await readWithSegflow(text, random);
      expect(ours, `file ${file}: segflow vs csv-parse\n${JSON.stringify(text)}`).toEqual(reference);
      records += rows.length;
    }
    expect(records).toBeGreaterThan(FILES * 10);
  });
});
