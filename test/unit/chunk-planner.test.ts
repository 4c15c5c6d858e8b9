import { describe, expect, it } from 'vitest';
import type { InputFormat } from '../../src/core/types';
import type { ByteSource } from '../../src/io/byte-source';
import { MemoryByteSource } from '../support/memory-byte-source';
import { seededRandom } from '../support/seeded-random';
import { initialCursor, planChunks, readCsvHeader, splitCsvFields, type PlanChunksOptions } from '../../src/io/chunk-planner';
import type { ChunkDescriptor } from '../../src/contracts/import-job';

const BOM = '\uFEFF';

async function startCursor(source: ByteSource, format: InputFormat) {
  return initialCursor(format, format === 'csv' ? await readCsvHeader(source) : undefined);
}

/** Plans the whole file page by page (maxChunks per call), as a workflow would. */
async function planAll(
  source: ByteSource,
  format: InputFormat,
  sizing: Partial<Pick<PlanChunksOptions, 'targetChunkBytes' | 'maxRecordsPerChunk' | 'maxChunks'>> = {},
): Promise<ChunkDescriptor[]> {
  const chunks: ChunkDescriptor[] = [];
  let from: PlanChunksOptions['from'] | null = await startCursor(source, format);
  while (from) {
    const page = await planChunks(source, {
      format,
      from,
      firstIndex: chunks.length,
      maxChunks: sizing.maxChunks ?? 1_000_000,
      targetChunkBytes: sizing.targetChunkBytes ?? 1_000_000,
      maxRecordsPerChunk: sizing.maxRecordsPerChunk ?? 1_000_000,
    });
    chunks.push(...page.chunks);
    from = page.next;
  }
  return chunks;
}

/** [chunk text, firstLine, firstRecord, records, lines] */
type ChunkSummary = [string, number, number, number, number];

async function summarize(text: string, format: InputFormat, pieceBytes: number): Promise<ChunkSummary[]> {
  const bytes = Buffer.from(text, 'utf8');
  const source = new MemoryByteSource(bytes, { pieceBytes });
  const chunks = await planAll(source, format, { maxRecordsPerChunk: 1 });
  return chunks.map((c) => [bytes.toString('utf8', c.startByte, c.endByte), c.firstLine, c.firstRecord, c.records, c.lines]);
}

describe('planChunks record boundaries (one record per chunk)', () => {
  const cases: Array<{ name: string; format: InputFormat; input: string; expected: ChunkSummary[] }> = [
    {
      name: 'NDJSON, LF',
      format: 'ndjson',
      input: '{"a":1}\n{"a":2}\n',
      expected: [
        ['{"a":1}\n', 1, 0, 1, 1],
        ['{"a":2}\n', 2, 1, 1, 1],
      ],
    },
    {
      name: 'NDJSON, CRLF',
      format: 'ndjson',
      input: '{"a":1}\r\n{"a":2}\r\n',
      expected: [
        ['{"a":1}\r\n', 1, 0, 1, 1],
        ['{"a":2}\r\n', 2, 1, 1, 1],
      ],
    },
    {
      name: 'NDJSON, BOM is skipped',
      format: 'ndjson',
      input: `${BOM}{"a":1}\n`,
      expected: [['{"a":1}\n', 1, 0, 1, 1]],
    },
    {
      name: 'NDJSON, last line without newline',
      format: 'ndjson',
      input: '{"a":1}\n{"a":2}',
      expected: [
        ['{"a":1}\n', 1, 0, 1, 1],
        ['{"a":2}', 2, 1, 1, 1],
      ],
    },
    {
      name: 'NDJSON, blank lines count as lines, not records, and stay covered',
      format: 'ndjson',
      input: '\n{"a":1}\n\r\n \t\n{"a":2}\n\n',
      expected: [
        ['\n{"a":1}\n', 1, 0, 1, 2],
        ['\r\n \t\n{"a":2}\n', 3, 1, 1, 3],
        ['\n', 6, 2, 0, 1],
      ],
    },
    {
      name: 'NDJSON, quotes do not matter',
      format: 'ndjson',
      input: '{"a":"x\\"\n{"a":2}\n',
      expected: [
        ['{"a":"x\\"\n', 1, 0, 1, 1],
        ['{"a":2}\n', 2, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, quoted newline makes a two-line record',
      format: 'csv',
      input: 'h1,h2\nx,"a\nb"\ny,z\n',
      expected: [
        ['x,"a\nb"\n', 2, 0, 1, 2],
        ['y,z\n', 4, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, "" inside a quoted field with a newline',
      format: 'csv',
      input: 'h1,h2\nx,"say ""hi""\nthere"\ny,z\n',
      expected: [
        ['x,"say ""hi""\nthere"\n', 2, 0, 1, 2],
        ['y,z\n', 4, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, a field that is only ""',
      format: 'csv',
      input: 'h1,h2\n"",""\ny,z\n',
      expected: [
        ['"",""\n', 2, 0, 1, 1],
        ['y,z\n', 3, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, CRLF everywhere, CRLF inside quotes too',
      format: 'csv',
      input: 'h1,h2\r\nx,"a\r\nb"\r\ny,z\r\n',
      expected: [
        ['x,"a\r\nb"\r\n', 2, 0, 1, 2],
        ['y,z\r\n', 4, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, BOM and multi-line header',
      format: 'csv',
      input: `${BOM}"h\n1",h2\nx,y\n`,
      expected: [['x,y\n', 3, 0, 1, 1]],
    },
    {
      name: 'CSV, a stray quote inside an unquoted field does not swallow later rows',
      format: 'csv',
      input: 'h1,h2\nx,27" tv\ny,z\n',
      expected: [
        ['x,27" tv\n', 2, 0, 1, 1],
        ['y,z\n', 3, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, text after a closing quote, then a quote, stays one line',
      format: 'csv',
      input: 'h1,h2\nx,"a"b"c\ny,z\n',
      expected: [
        ['x,"a"b"c\n', 2, 0, 1, 1],
        ['y,z\n', 3, 1, 1, 1],
      ],
    },
    {
      name: 'CSV, unterminated quote at EOF is still a (last) chunk',
      format: 'csv',
      input: 'h1,h2\nx,y\nx,"open\ny,z\n',
      expected: [
        ['x,y\n', 2, 0, 1, 1],
        ['x,"open\ny,z\n', 3, 1, 1, 2],
      ],
    },
    {
      name: 'CSV, blank lines and a last row without newline',
      format: 'csv',
      input: 'h1,h2\n\nx,y\r\n\r\ny,z',
      expected: [
        ['\nx,y\r\n', 2, 0, 1, 2],
        ['\r\ny,z', 4, 1, 1, 2],
      ],
    },
    {
      name: 'CSV, header only',
      format: 'csv',
      input: 'h1,h2\n',
      expected: [],
    },
  ];

  for (const { name, format, input, expected } of cases) {
    it(name, async () => {
      expect(await summarize(input, format, 64 * 1024)).toEqual(expected);
      // Every state carried between Buffers (quote state, a quote closing in the last byte, CR before LF) is exercised.
      for (const pieceBytes of [1, 2, 3]) expect(await summarize(input, format, pieceBytes)).toEqual(expected);
    });
  }
});

describe('planChunks sizing and paging', () => {
  /** 10 NDJSON records of exactly 10 bytes each. */
  const tenRecords = Array.from({ length: 10 }, (_, i) => `{"i":"${i}"}\n`).join('');

  const sizingCases: Array<{ name: string; targetChunkBytes: number; maxRecordsPerChunk: number; recordsPerChunk: number[] }> = [
    {
      name: 'closes at the first record boundary at or past targetChunkBytes',
      targetChunkBytes: 25,
      maxRecordsPerChunk: 100,
      recordsPerChunk: [3, 3, 3, 1],
    },
    { name: 'exactly on target', targetChunkBytes: 20, maxRecordsPerChunk: 100, recordsPerChunk: [2, 2, 2, 2, 2] },
    { name: 'closes at maxRecordsPerChunk', targetChunkBytes: 1_000_000, maxRecordsPerChunk: 4, recordsPerChunk: [4, 4, 2] },
    { name: 'bytes first when they come first', targetChunkBytes: 25, maxRecordsPerChunk: 4, recordsPerChunk: [3, 3, 3, 1] },
    { name: 'records first when they come first', targetChunkBytes: 45, maxRecordsPerChunk: 3, recordsPerChunk: [3, 3, 3, 1] },
    {
      name: 'a record larger than the target is a chunk of its own',
      targetChunkBytes: 1,
      maxRecordsPerChunk: 100,
      recordsPerChunk: Array(10).fill(1),
    },
  ];
  for (const { name, targetChunkBytes, maxRecordsPerChunk, recordsPerChunk } of sizingCases) {
    it(name, async () => {
      const source = new MemoryByteSource(tenRecords);
      const chunks = await planAll(source, 'ndjson', { targetChunkBytes, maxRecordsPerChunk });
      expect(chunks.map((c) => c.records)).toEqual(recordsPerChunk);
      expect(chunks.map((c) => c.index)).toEqual(recordsPerChunk.map((_, i) => i));
    });
  }

  it('returns a cursor after maxChunks, and null once the file is covered', async () => {
    const source = new MemoryByteSource(tenRecords);
    const first = await planChunks(source, {
      format: 'ndjson',
      from: initialCursor('ndjson'),
      firstIndex: 0,
      maxChunks: 2,
      targetChunkBytes: 1,
      maxRecordsPerChunk: 100,
    });
    expect(first.fileSize).toBe(100);
    expect(first.chunks.map((c) => [c.startByte, c.endByte])).toEqual([
      [0, 10],
      [10, 20],
    ]);
    expect(first.next).toEqual({ byte: 20, line: 3, record: 2 });

    const last = await planChunks(source, {
      ...baseOptions(),
      from: { byte: 90, line: 10, record: 9 },
      firstIndex: 9,
      maxChunks: 1,
      targetChunkBytes: 1,
    });
    expect(last.chunks).toEqual([{ index: 9, startByte: 90, endByte: 100, firstLine: 10, firstRecord: 9, records: 1, lines: 1 }]);
    expect(last.next).toBeNull();

    const atEnd = await planChunks(source, { ...baseOptions(), from: { byte: 100, line: 11, record: 10 } });
    expect(atEnd).toEqual({ chunks: [], next: null, fileSize: 100 });
  });

  it('rejects invalid sizing and a cursor past the end of the file', async () => {
    const source = new MemoryByteSource(tenRecords, { description: 'events.ndjson' });
    for (const bad of [{ maxChunks: 0 }, { targetChunkBytes: 0 }, { maxRecordsPerChunk: 1.5 }]) {
      await expect(planChunks(source, { ...baseOptions(), ...bad })).rejects.toThrow(RangeError);
    }
    await expect(planChunks(source, { ...baseOptions(), from: { byte: 101, line: 1, record: 0 } })).rejects.toThrow(
      /events\.ndjson.*did the file change/,
    );
  });

  it('fails loudly when the file is shorter than its reported size', async () => {
    const shrunk: ByteSource = {
      description: 'shrinking.ndjson',
      size: async () => 200,
      version: async () => undefined,
      openRange: (start, end) => new MemoryByteSource(tenRecords).openRange(start, Math.min(end, 100)),
    };
    await expect(planChunks(shrunk, baseOptions())).rejects.toThrow(/shrinking\.ndjson.*did the file change/);
  });
});

function baseOptions(): PlanChunksOptions {
  return { format: 'ndjson', from: initialCursor('ndjson'), firstIndex: 0, maxChunks: 100, targetChunkBytes: 1000, maxRecordsPerChunk: 1000 };
}

describe('planChunks properties over random inputs', () => {
  /** Byte soup rich in the characters that matter, so quote states are arbitrary, not only valid CSV. */
  const alphabet = ['a', 'b', ',', ',', '"', '"', '\n', '\n', '\r\n', ' ', 'é', '😀'];

  it('chunks are contiguous, cover the file, end after a newline, count every line, and do not depend on Buffer sizes or paging', async () => {
    const random = seededRandom(20240611);
    for (let round = 0; round < 150; round++) {
      const format: InputFormat = random() < 0.5 ? 'csv' : 'ndjson';
      const length = Math.floor(random() * 300);
      let text = format === 'csv' ? 'h1,h2\n' : random() < 0.2 ? BOM : '';
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      const bytes = Buffer.from(text, 'utf8');
      const sizing = { targetChunkBytes: 1 + Math.floor(random() * 60), maxRecordsPerChunk: 1 + Math.floor(random() * 5) };
      const context = `round ${round}, ${format}, ${JSON.stringify(text)}, ${JSON.stringify(sizing)}`;

      const onePass = await planAll(new MemoryByteSource(bytes), format, sizing);
      const start = (await startCursor(new MemoryByteSource(bytes), format)).byte + (text.startsWith(BOM) ? 3 : 0);
      let expectedStart = start;
      for (const chunk of onePass) {
        expect(chunk.startByte, context).toBe(expectedStart);
        expect(chunk.endByte, context).toBeGreaterThan(chunk.startByte);
        if (chunk.endByte < bytes.length) expect(bytes[chunk.endByte - 1], context).toBe(0x0a);
        expectedStart = chunk.endByte;
      }
      expect(expectedStart, context).toBe(bytes.length);

      const dataLines = countPhysicalLines(bytes.subarray(start));
      const plannedLines = onePass.reduce((sum, c) => sum + c.lines, 0);
      expect(plannedLines, context).toBe(dataLines);

      const tinyPieces = await planAll(new MemoryByteSource(bytes, { pieceBytes: 1 + Math.floor(random() * 4) }), format, sizing);
      expect(tinyPieces, context).toEqual(onePass);
      const paged = await planAll(new MemoryByteSource(bytes, { pieceBytes: 7 }), format, { ...sizing, maxChunks: 1 + Math.floor(random() * 3) });
      expect(paged, context).toEqual(onePass);
    }
  });
});

describe('readCsvHeader', () => {
  const cases: Array<{ name: string; input: string; columns: string[]; dataStartByte: number; dataStartLine: number }> = [
    { name: 'plain', input: 'a,b\n1,2\n', columns: ['a', 'b'], dataStartByte: 4, dataStartLine: 2 },
    { name: 'BOM stripped, CRLF, quoted comma', input: `${BOM}a,"b,c"\r\n1,2\r\n`, columns: ['a', 'b,c'], dataStartByte: 12, dataStartLine: 2 },
    {
      name: 'quoted newline and "" in a column name',
      input: '"a\nx","say ""b"""\n1,2\n',
      columns: ['a\nx', 'say "b"'],
      dataStartByte: 18,
      dataStartLine: 3,
    },
    { name: 'blank lines before the header are skipped', input: '\n\r\na,b\n', columns: ['a', 'b'], dataStartByte: 7, dataStartLine: 4 },
    { name: 'header without newline', input: 'a,b', columns: ['a', 'b'], dataStartByte: 3, dataStartLine: 2 },
    { name: 'multi-byte column names', input: 'prénom,名前\n', columns: ['prénom', '名前'], dataStartByte: 15, dataStartLine: 2 },
  ];
  for (const { name, input, ...expected } of cases) {
    it(name, async () => {
      for (const pieceBytes of [1, 1024]) {
        expect(await readCsvHeader(new MemoryByteSource(input, { pieceBytes }))).toEqual(expected);
      }
    });
  }

  const failures: Array<{ name: string; input: string; message: RegExp }> = [
    { name: 'empty file', input: '', message: /users\.csv is empty/ },
    { name: 'only a BOM', input: BOM, message: /users\.csv is empty/ },
    { name: 'only blank lines', input: '\n\r\n  \n', message: /users\.csv is empty/ },
    { name: 'bad quoting', input: 'a,b"c\n1,2\n', message: /Invalid CSV header in users\.csv \(line 1\): field 2 contains a quote/ },
    { name: 'unterminated quote in a short file', input: 'a,"b\n1,2\n', message: /Invalid CSV header.*never closed/ },
    {
      name: 'unterminated quote in a long file',
      input: `a,"b\n${'x'.repeat(1024 * 1024)}`,
      message: /No CSV header row ends within the first 1048576 bytes of users\.csv/,
    },
  ];
  for (const { name, input, message } of failures) {
    it(`fails clearly: ${name}`, async () => {
      await expect(readCsvHeader(new MemoryByteSource(input, { description: 'users.csv' }))).rejects.toThrow(message);
    });
  }
});

describe('initialCursor', () => {
  it('starts NDJSON at byte 0 (planChunks skips a BOM) and CSV after the header', () => {
    expect(initialCursor('ndjson')).toEqual({ byte: 0, line: 1, record: 0 });
    expect(initialCursor('csv', { columns: ['a'], dataStartByte: 12, dataStartLine: 3 })).toEqual({ byte: 12, line: 3, record: 0 });
    expect(() => initialCursor('csv')).toThrow(/readCsvHeader/);
  });
});

describe('splitCsvFields', () => {
  const cases: Array<[string, string[] | RegExp]> = [
    ['a,b,c', ['a', 'b', 'c']],
    ['', ['']],
    ['a,', ['a', '']],
    [',', ['', '']],
    ['"a,b",c', ['a,b', 'c']],
    ['"say ""hi""",x', ['say "hi"', 'x']],
    ['""', ['']],
    ['"",""', ['', '']],
    ['""""', ['"']],
    ['"multi\nline\r\nvalue",x', ['multi\nline\r\nvalue', 'x']],
    ['x,"é😀"', ['x', 'é😀']],
    [' a , b ', [' a ', ' b ']],
    ['a,b"c', /field 2 contains a quote but does not start with one/],
    ['a, "b"', /field 2 contains a quote/],
    ['"a"b,c', /field 1 has text after its closing quote/],
    ['a,"b', /field 2 opens a quote that is never closed/],
    ['a,"b""', /field 2 opens a quote that is never closed/],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      const result = splitCsvFields(input);
      if (expected instanceof RegExp) expect(result.error).toMatch(expected);
      else expect(result).toEqual({ values: expected });
    });
  }
});

function countPhysicalLines(bytes: Buffer): number {
  let newlines = 0;
  for (const byte of bytes) if (byte === 0x0a) newlines++;
  return bytes.length === 0 || bytes[bytes.length - 1] === 0x0a ? newlines : newlines + 1;
}
