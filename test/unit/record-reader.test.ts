import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InputFormat } from '../../src/core/types';
import type { ByteSource } from '../../src/io/byte-source';
import { LocalFileSource } from '../../src/io/local-file-source';
import { openByteSource } from '../../src/io/open-byte-source';
import type { PlannerCursor } from '../../src/contracts/import-job';
import { initialCursor, planChunks, readCsvHeader } from '../../src/io/chunk-planner';
import { MemoryByteSource } from '../support/memory-byte-source';
import { isRecordError, readRecords, type RawRecord, type ReadRecordsOptions, type RecordError } from '../../src/io/record-reader';
import { seededRandom } from '../support/seeded-random';

type Item = RawRecord | RecordError;

async function collect(items: AsyncIterable<Item>): Promise<Item[]> {
  const out: Item[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Plans the whole source into chunks of about `targetChunkBytes` and reads them all, in order. */
async function readThroughChunks(
  source: ByteSource,
  format: InputFormat,
  targetChunkBytes = 1_000_000,
  options: ReadRecordsOptions = {},
): Promise<Item[]> {
  const header = format === 'csv' ? await readCsvHeader(source) : undefined;
  const items: Item[] = [];
  let from: PlannerCursor | null = initialCursor(format, header);
  while (from) {
    const page = await planChunks(source, { format, from, firstIndex: 0, maxChunks: 10, targetChunkBytes, maxRecordsPerChunk: 1_000_000 });
    for (const chunk of page.chunks) items.push(...(await collect(readRecords(source, chunk, format, options))));
    from = page.next;
  }
  return items;
}

describe('readRecords', () => {
  const cases: Array<{ name: string; format: InputFormat; input: string | Buffer; expected: Item[]; options?: ReadRecordsOptions }> = [
    {
      name: 'NDJSON with BOM, CRLF, blank lines and a last line without newline',
      format: 'ndjson',
      input: '\uFEFF{"a":1}\r\n\r\n   \n{"a":"é"}\n{"a":3}',
      expected: [
        { line: 1, recordIndex: 0, raw: '{"a":1}' },
        { line: 4, recordIndex: 1, raw: '{"a":"é"}' },
        { line: 5, recordIndex: 2, raw: '{"a":3}' },
      ],
    },
    {
      name: 'CSV: quoted newlines move the line numbers of later records',
      format: 'csv',
      input: 'id,note\n1,"two\nlines"\n2,"three\r\nphysical\nlines"\n3,plain\n',
      expected: [
        { line: 2, recordIndex: 0, raw: '1,"two\nlines"', values: ['1', 'two\nlines'] },
        { line: 4, recordIndex: 1, raw: '2,"three\r\nphysical\nlines"', values: ['2', 'three\r\nphysical\nlines'] },
        { line: 7, recordIndex: 2, raw: '3,plain', values: ['3', 'plain'] },
      ],
    },
    {
      name: 'CSV: BOM, CRLF, "" escapes, empty fields, blank lines, last row without newline',
      format: 'csv',
      input: '\uFEFFid,"quoted, name",x\r\n1,"say ""hi""",\r\n\r\n2,,""\r\n3,é,😀',
      expected: [
        { line: 2, recordIndex: 0, raw: '1,"say ""hi""",', values: ['1', 'say "hi"', ''] },
        { line: 4, recordIndex: 1, raw: '2,,""', values: ['2', '', ''] },
        { line: 5, recordIndex: 2, raw: '3,é,😀', values: ['3', 'é', '😀'] },
      ],
    },
    {
      name: 'CSV: bad records become error items and reading goes on',
      format: 'csv',
      input: 'a,b\n1,2\n1,2,3\n27" tv,x\n"closed"then,x\n"multi\nline",ok\n4\n5,6\n',
      expected: [
        { line: 2, recordIndex: 0, raw: '1,2', values: ['1', '2'] },
        { line: 3, recordIndex: 1, raw: '1,2,3', error: 'expected 2 fields like the header, found 3' },
        { line: 4, recordIndex: 2, raw: '27" tv,x', error: expect.stringMatching(/^field 1 contains a quote but does not start with one/) },
        { line: 5, recordIndex: 3, raw: '"closed"then,x', error: expect.stringMatching(/^field 1 has text after its closing quote/) },
        { line: 6, recordIndex: 4, raw: '"multi\nline",ok', values: ['multi\nline', 'ok'] },
        { line: 8, recordIndex: 5, raw: '4', error: 'expected 2 fields like the header, found 1' },
        { line: 9, recordIndex: 6, raw: '5,6', values: ['5', '6'] },
      ],
    },
    {
      name: 'CSV: an unterminated quote at EOF is one error item at the line where it starts',
      format: 'csv',
      input: 'a,b\n1,2\n3,"never closed\n4,5\n',
      expected: [
        { line: 2, recordIndex: 0, raw: '1,2', values: ['1', '2'] },
        { line: 3, recordIndex: 1, raw: '3,"never closed\n4,5', error: 'field 2 opens a quote that is never closed' },
      ],
    },
    {
      name: 'invalid UTF-8 is an error item; a genuine U+FFFD is data',
      format: 'ndjson',
      input: Buffer.concat([Buffer.from('{"a":"\uFFFD"}\n{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"a":2}\n')]),
      expected: [
        { line: 1, recordIndex: 0, raw: '{"a":"\uFFFD"}' },
        { line: 2, recordIndex: 1, raw: '{"a":"\uFFFD\uFFFD"}', error: 'record is not valid UTF-8' },
        { line: 3, recordIndex: 2, raw: '{"a":2}' },
      ],
    },
    {
      name: 'a record over maxRecordBytes is an error item with a preview, not held in memory',
      format: 'ndjson',
      input: `{"a":1}\n{"long":"${'x'.repeat(30)}é${'x'.repeat(29)}"}\n{"a":3}\n`,
      options: { maxRecordBytes: 40 },
      expected: [
        { line: 1, recordIndex: 0, raw: '{"a":1}' },
        // The 40-byte preview would end inside "é", so it stops before it.
        { line: 2, recordIndex: 1, raw: `{"long":"${'x'.repeat(30)}…`, error: 'record is 73 bytes, over the 40-byte limit' },
        { line: 3, recordIndex: 2, raw: '{"a":3}' },
      ],
    },
  ];

  for (const { name, format, input, expected, options } of cases) {
    it(name, async () => {
      for (const pieceBytes of [1, 2, 3, 5, 64 * 1024]) {
        for (const targetChunkBytes of [1, 9, 1_000_000]) {
          const source = new MemoryByteSource(input, { pieceBytes });
          expect(
            await readThroughChunks(source, format, targetChunkBytes, options),
            `pieces of ${pieceBytes}, chunks of ${targetChunkBytes}`,
          ).toEqual(expected);
        }
      }
    });
  }

  it('decodes multi-byte characters split across every possible Buffer boundary', async () => {
    const text = 'name,city\nZoë,Kraków\n名前,東京\n😀,"a😀b"\n';
    const expected = [
      ['Zoë', 'Kraków'],
      ['名前', '東京'],
      ['😀', 'a😀b'],
    ];
    for (let pieceBytes = 1; pieceBytes <= 8; pieceBytes++) {
      const items = await readThroughChunks(new MemoryByteSource(text, { pieceBytes }), 'csv');
      expect(items.map((item) => ('values' in item ? item.values : item))).toEqual(expected);
    }
  });

  it('reads the header for the field count when expectedFields is not given, and honours it when it is', async () => {
    const source = new MemoryByteSource('a,b,c\n1,2,3\n1,2\n');
    const chunk = { startByte: 6, endByte: 16, firstLine: 2, firstRecord: 0 };
    expect(await collect(readRecords(source, chunk, 'csv'))).toEqual([
      { line: 2, recordIndex: 0, raw: '1,2,3', values: ['1', '2', '3'] },
      { line: 3, recordIndex: 1, raw: '1,2', error: 'expected 3 fields like the header, found 2' },
    ]);
    expect((await collect(readRecords(source, chunk, 'csv', { expectedFields: 2 }))).map(isRecordError)).toEqual([true, false]);
  });

  it('gives the same records from a source that refills one Buffer for every piece', async () => {
    const text = '\uFEFFid,note\r\n1,"a ""q"" and\r\nnewline"\r\n2,"é😀"\r\n3,"x"\n4,y\n';
    const expected = await readThroughChunks(new MemoryByteSource(text), 'csv');
    expect(expected).toHaveLength(4);
    for (const pieceBytes of [1, 2, 3, 4, 7]) {
      expect((await readCsvHeader(new RefillingSource(text, pieceBytes))).columns).toEqual(['id', 'note']);
      expect(await readThroughChunks(new RefillingSource(text, pieceBytes), 'csv', 5), `pieces of ${pieceBytes}`).toEqual(expected);
    }
  });

  it('stops at endByte even when the source sends more', async () => {
    const data = '{"a":1}\n{"a":2}\n{"a":3}\n';
    const generous: ByteSource = {
      description: 'generous',
      size: async () => data.length,
      version: async () => undefined,
      openRange: (start) => new MemoryByteSource(data, { pieceBytes: 5 }).openRange(start, data.length),
    };
    const items = await collect(readRecords(generous, { startByte: 8, endByte: 16, firstLine: 2, firstRecord: 1 }, 'ndjson'));
    expect(items).toEqual([{ line: 2, recordIndex: 1, raw: '{"a":2}' }]);
  });

  it('fails the chunk (not a record) when the file is shorter than planned', async () => {
    const source = new MemoryByteSource('{"a":1}\n{"a":2}\n', { description: 'events.ndjson' });
    const reading = collect(readRecords(source, { startByte: 0, endByte: 40, firstLine: 1, firstRecord: 0 }, 'ndjson'));
    await expect(reading).rejects.toThrow(/events\.ndjson ended 24 bytes before byte 40.*did the file change/);
  });

  it('property: over random files, chunked reads equal a whole-file read and the rows that were written', async () => {
    const random = seededRandom(7);
    for (let round = 0; round < 120; round++) {
      const format: InputFormat = random() < 0.5 ? 'csv' : 'ndjson';
      const file = format === 'csv' ? randomCsv(random) : randomNdjson(random);
      const context = `round ${round}: ${JSON.stringify(file.text)}`;
      const whole = await readThroughChunks(new MemoryByteSource(file.text), format);
      expect(whole, context).toEqual(file.expected);
      const pieceBytes = 1 + Math.floor(random() * 9);
      const targetChunkBytes = 1 + Math.floor(random() * 80);
      expect(await readThroughChunks(new MemoryByteSource(file.text, { pieceBytes }), format, targetChunkBytes), context).toEqual(whole);
    }
  });
});

describe('byte sources', () => {
  let dir = '';
  let path = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segflow-io-'));
    path = join(dir, 'events.ndjson');
    await writeFile(path, '\uFEFF{"a":1}\n{"a":2}\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('LocalFileSource reads exact ranges, including an empty one', async () => {
    const source = new LocalFileSource(path);
    expect(await source.size()).toBe(19);
    expect(await readRange(source, 3, 11)).toBe('{"a":1}\n');
    expect(await readRange(source, 11, 11)).toBe('');
    expect(() => source.openRange(5, 4)).toThrow(RangeError);
  });

  it('LocalFileSource refills one buffer for every piece of a long range, and stops where a shorter file ends', async () => {
    const long = join(dir, 'long.ndjson');
    const text = Array.from({ length: 40_000 }, (_, i) => `{"n":${i},"pad":"${'é'.repeat(i % 40)}"}`).join('\n');
    await writeFile(long, text);
    const size = Buffer.byteLength(text);
    const source = new LocalFileSource(long);
    const pieces: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const piece of source.openRange(5, size)) {
      buffers.add(piece.buffer);
      pieces.push(Buffer.from(piece));
    }
    expect(pieces.length).toBeGreaterThan(3);
    // No new buffer per read: reading a file leaves no garbage behind (src/io/local-file-source.ts).
    expect(buffers.size).toBe(1);
    expect(Buffer.concat(pieces).equals(Buffer.from(text).subarray(5))).toBe(true);
    // Asked past the end (the file shrank since planning): the pieces stop at its end; readers then fail on the shortfall.
    expect(await readRange(source, size - 4, size + 100)).toBe(
      Buffer.from(text)
        .subarray(size - 4)
        .toString(),
    );
  });

  it('a local NDJSON file plans and reads end to end, BOM skipped', async () => {
    expect(await readThroughChunks(new LocalFileSource(path), 'ndjson', 1)).toEqual([
      { line: 1, recordIndex: 0, raw: '{"a":1}' },
      { line: 2, recordIndex: 1, raw: '{"a":2}' },
    ]);
  });

  const locations: Array<[string, string | RegExp]> = [
    ['relative/events.csv', 'relative/events.csv'],
    ['/abs/events.csv', '/abs/events.csv'],
    // A presigned URL's query string and any user:password are credentials: never in the description.
    ['https://user:secret@example.com/data.csv?sig=abc', 'https://example.com/data.csv'],
    ['HTTP://example.com/data.csv', 'http://example.com/data.csv'],
    // The message names every kind of input that works (an object store is read through a presigned https URL).
    ['s3://bucket/key.csv', /Unsupported import location scheme "s3:\/\/".*; use a local file path or an http\(s\) URL/],
  ];
  for (const [location, expected] of locations) {
    it(`openByteSource(${JSON.stringify(location)})`, () => {
      if (typeof expected === 'string') expect(openByteSource(location).description).toBe(expected);
      else expect(() => openByteSource(location)).toThrow(expected);
    });
  }

  it('openByteSource accepts file:// URLs', async () => {
    expect(await openByteSource(pathToFileURL(path).href).size()).toBe(19);
  });

  it('MemoryByteSource serves pieces of the requested size', async () => {
    const pieces: string[] = [];
    for await (const piece of new MemoryByteSource('abcdefg', { pieceBytes: 3 }).openRange(1, 7)) pieces.push(piece.toString());
    expect(pieces).toEqual(['bcd', 'efg']);
  });
});

/** Yields one Buffer object, overwritten for every piece, as a pooled reader might. */
class RefillingSource implements ByteSource {
  readonly description = 'refilling source';
  private readonly data: Buffer;

  constructor(
    text: string,
    private readonly pieceBytes: number,
  ) {
    this.data = Buffer.from(text, 'utf8');
  }

  async size(): Promise<number> {
    return this.data.length;
  }

  async version(): Promise<undefined> {
    return undefined;
  }

  async *openRange(start: number, end: number): AsyncGenerator<Buffer> {
    const shared = Buffer.alloc(this.pieceBytes);
    for (let offset = start; offset < end; offset += this.pieceBytes) {
      const length = Math.min(this.pieceBytes, end - offset);
      this.data.copy(shared, 0, offset, offset + length);
      yield length === this.pieceBytes ? shared : shared.subarray(0, length);
    }
    shared.fill(0x2c); // commas: any byte a consumer kept without copying is now wrong
  }
}

async function readRange(source: ByteSource, start: number, end: number): Promise<string> {
  const pieces: Buffer[] = [];
  for await (const piece of source.openRange(start, end)) pieces.push(piece);
  return Buffer.concat(pieces).toString('utf8');
}

interface GeneratedFile {
  text: string;
  expected: Item[];
}

const VALUE_PARTS = ['a', 'bc', '', ' ', ',', '"', '\n', '\r\n', 'é', '😀', '名'];
const NEWLINES = ['\n', '\r\n'];

/** Random valid CSV written the way exporters do, with the rows it must read back (values and start lines). */
function randomCsv(random: () => number): GeneratedFile {
  const columns = 1 + Math.floor(random() * 3);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const newline = pick(NEWLINES);
  let text = (random() < 0.3 ? '\uFEFF' : '') + Array.from({ length: columns }, (_, i) => `c${i}`).join(',') + newline;
  let line = 2;
  const expected: Item[] = [];
  const rows = Math.floor(random() * 8);
  for (let r = 0; r < rows; r++) {
    while (random() < 0.2) {
      text += pick(['', ' ', '\t']) + newline;
      line++;
    }
    const values = Array.from({ length: columns }, () => Array.from({ length: Math.floor(random() * 4) }, () => pick(VALUE_PARTS)).join(''));
    // A single blank value would look like a blank line, so it must be quoted; otherwise quote when needed or by chance.
    const raw = values
      .map((v) => (/[",\r\n]/.test(v) || random() < 0.2 || (columns === 1 && v.trim() === '') ? `"${v.replaceAll('"', '""')}"` : v))
      .join(',');
    expected.push({ line, recordIndex: expected.length, raw, values });
    line += 1 + (raw.match(/\n/g)?.length ?? 0);
    text += raw + (r === rows - 1 && random() < 0.5 ? '' : newline);
  }
  return { text, expected };
}

function randomNdjson(random: () => number): GeneratedFile {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  let text = random() < 0.3 ? '\uFEFF' : '';
  let line = 1;
  const expected: Item[] = [];
  const rows = Math.floor(random() * 8);
  for (let r = 0; r < rows; r++) {
    const newline = pick(NEWLINES);
    while (random() < 0.2) {
      text += pick(['', ' ', '\t ']) + newline;
      line++;
    }
    const raw = JSON.stringify({ r, s: Array.from({ length: Math.floor(random() * 5) }, () => pick(VALUE_PARTS)).join('') });
    expected.push({ line, recordIndex: expected.length, raw });
    line++;
    text += raw + (r === rows - 1 && random() < 0.5 ? '' : newline);
  }
  return { text, expected };
}
