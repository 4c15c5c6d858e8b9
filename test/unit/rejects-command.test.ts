/**
 * `segflow rejects`: a job's rejected rows written back in the input's own format, reasons in a side file or a last
 * column.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvField, writeRejects } from '../../src/cli/rejects-command';
import { RejectWriter, writeReportInputInfo } from '../../src/io/reject-report';

async function report(format: 'csv' | 'ndjson', rows: object[], csvColumns?: string[]): Promise<{ dir: string; path: string }> {
  const root = mkdtempSync(join(tmpdir(), 'segflow-rejects-'));
  await writeReportInputInfo(root, 'job-1', { format, ...(csvColumns ? { csvColumns } : {}) });
  const path = join(root, 'job-1', 'rejects.ndjson');
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { dir: root, path };
}

describe('writeRejects', () => {
  it('writes NDJSON rows as they were, with the reasons by line in a side file naming file and line', async () => {
    const { dir, path } = await report('ndjson', [
      {
        file: '2024-01-01/a.ndjson.gz',
        line: 7,
        field: 'event',
        reason: 'track calls need a non-empty event name',
        raw: '{"type":"track","userId":"u"}',
      },
      { file: '2024-01-02/b.ndjson.gz', line: 2, field: '(line)', reason: 'line is not valid JSON', raw: '{"type":' },
    ]);
    const out = join(dir, 'fixed.ndjson');
    const result = await writeRejects({ reportPath: path, out, reasonColumn: false, force: false });
    expect(result).toMatchObject({ rows: 2, format: 'ndjson', reasons: `${out}.reasons.ndjson` });
    expect(readFileSync(out, 'utf8')).toBe('{"type":"track","userId":"u"}\n{"type":\n');
    const reasons = readFileSync(`${out}.reasons.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    await expect(writeRejects({ reportPath: path, out: join(dir, 'x.csv'), format: 'csv', reasonColumn: false, force: false })).rejects.toThrow(
      /can only be written as ndjson/,
    );
    expect(reasons).toEqual([
      { line: 1, file: '2024-01-01/a.ndjson.gz', sourceLine: 7, field: 'event', reason: 'track calls need a non-empty event name' },
      { line: 2, file: '2024-01-02/b.ndjson.gz', sourceLine: 2, field: '(line)', reason: 'line is not valid JSON' },
    ]);
    // Never overwrites by accident.
    await expect(writeRejects({ reportPath: path, out, reasonColumn: false, force: false })).rejects.toThrow(/already exists/);
  });

  it('adds the reason as a last CSV column (quoted as needed) and counts multi-line rows in the side file', async () => {
    const { dir, path } = await report(
      'csv',
      [
        { line: 3, field: 'timestamp', reason: 'timestamp "x" is not an ISO-8601 date-time, like 2024-03-01', raw: 'track,u1,"multi\nline",x\r' },
        { line: 9, field: 'event', reason: 'no event', raw: 'track,u2,,2024-01-01T00:00:00Z' },
      ],
      ['\uFEFFtype', 'userId', 'properties.note', 'timestamp'],
    );
    const withColumn = join(dir, 'fixed.csv');
    await writeRejects({ reportPath: path, out: withColumn, reasonColumn: true, force: false });
    expect(readFileSync(withColumn, 'utf8')).toBe(
      'type,userId,properties.note,timestamp,reason\n' +
        'track,u1,"multi\nline",x,"timestamp ""x"" is not an ISO-8601 date-time, like 2024-03-01"\n' +
        'track,u2,,2024-01-01T00:00:00Z,no event\n',
    );
    const sideFile = join(dir, 'side.csv');
    await writeRejects({ reportPath: path, out: sideFile, reasonColumn: false, force: false });
    const reasons = readFileSync(`${sideFile}.reasons.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).line);
    expect(reasons).toEqual([2, 4]);
    // CSV rows as NDJSON messages, through the importer's column rules.
    const asNdjson = join(dir, 'x.ndjson');
    await writeRejects({ reportPath: path, out: asNdjson, format: 'ndjson', reasonColumn: true, force: false });
    expect(
      readFileSync(asNdjson, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      {
        type: 'track',
        userId: 'u1',
        properties: { note: 'multi\nline' },
        timestamp: 'x',
        reason: 'timestamp "x" is not an ISO-8601 date-time, like 2024-03-01',
      },
      { type: 'track', userId: 'u2', timestamp: '2024-01-01T00:00:00Z', reason: 'no event' },
    ]);
  });

  it('neutralises formula-leading CSV cells (header, rows, unsplittable rows) with a leading quote; --raw-cells keeps them as they were', async () => {
    const { dir, path } = await report(
      'csv',
      [
        { line: 2, field: 'event', reason: 'no event', raw: 'track,"=HYPERLINK(""http://x.example/"",""fix me"")",@SUM(A1:A9),-5,+cmd|x' },
        { line: 3, field: 'event', reason: 'no event', raw: '\tcalc,u2,-2.5,"-x"' },
        { line: 4, field: '(line)', reason: 'field 2 contains a quote', raw: '=1+1,a"b' },
      ],
      ['type', 'userId', '=note', 'count'],
    );
    const safe = join(dir, 'safe.csv');
    await writeRejects({ reportPath: path, out: safe, reasonColumn: false, force: false });
    expect(readFileSync(safe, 'utf8').split('\n')).toEqual([
      "type,userId,'=note,count",
      `track,"'=HYPERLINK(""http://x.example/"",""fix me"")",'@SUM(A1:A9),-5,'+cmd|x`,
      "'\tcalc,u2,-2.5,'-x",
      `'=1+1,a"b`,
      '',
    ]);
    const raw = join(dir, 'raw.csv');
    await writeRejects({ reportPath: path, out: raw, reasonColumn: false, force: false, rawCells: true });
    expect(readFileSync(raw, 'utf8').split('\n')).toEqual([
      'type,userId,=note,count',
      'track,"=HYPERLINK(""http://x.example/"",""fix me"")",@SUM(A1:A9),-5,+cmd|x',
      '\tcalc,u2,-2.5,"-x"',
      '=1+1,a"b',
      '',
    ]);
  });

  it('the reason lands in the reason column for a row with too many fields (extras after it) and one with too few', async () => {
    const { dir, path } = await report(
      'csv',
      [
        { line: 2, field: '(line)', reason: 'row has 5 fields, the header 3', raw: 'track,u1,Signed Up,extra1,extra2' },
        { line: 3, field: '(line)', reason: 'row has 2 fields, the header 3', raw: 'track,u2' },
      ],
      ['type', 'userId', 'event'],
    );
    const out = join(dir, 'fixed.csv');
    await writeRejects({ reportPath: path, out, reasonColumn: true, force: false });
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toEqual([
      'type,userId,event,reason',
      'track,u1,Signed Up,"row has 5 fields, the header 3",extra1,extra2',
      'track,u2,,"row has 2 fields, the header 3"',
    ]);
  });

  it('quotes CSV fields only when needed', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField(' padded')).toBe('" padded"');
  });
});

describe('reject reports', () => {
  it('never hold a write key from an exported row, whichever rule rejected it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-rejects-'));
    const writer = await RejectWriter.open(join(dir, 'r.ndjson'), 'replace');
    await writer.write({
      line: 1,
      field: 'messageId',
      reason: 'duplicate of line 0',
      raw: '{"type":"track","writeKey" : "wk-\\"secret","event":"E"}',
    });
    await writer.close();
    const text = readFileSync(join(dir, 'r.ndjson'), 'utf8');
    expect(text).not.toContain('secret');
    expect(JSON.parse(text).raw).toBe('{"type":"track","writeKey":"[writeKey removed]","event":"E"}');
  });
});

describe('RejectWriter replace mode', () => {
  it('lets a timed-out attempt and its retry write the same chunk report at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-rejects-'));
    const path = join(dir, 'chunks', '00000001.local.ndjson');
    const zombie = await RejectWriter.open(path, 'replace');
    const retry = await RejectWriter.open(path, 'replace');
    const row = { line: 2, field: 'event', reason: 'no event', raw: '{}' };
    await zombie.write(row);
    await retry.write(row);
    await zombie.close();
    await retry.close();
    expect(readFileSync(path, 'utf8')).toBe(JSON.stringify(row) + '\n');
  });
});
