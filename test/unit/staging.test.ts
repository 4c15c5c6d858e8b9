/**
 * Staging gzip and many-file inputs into one plain file, the line map, resume at file boundaries, the CSV header
 * rule, the content digest; and the input-set resolver (directory, glob, manifest, containment) with its glob matcher.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { matchGlob, matchSegment } from '../../src/core/glob';
import { expandInputSet } from '../../src/io/input-set';
import { digestInput, inputSetDigest, locateLine, stageInputs, type StageCheckpoint } from '../../src/io/staging';
import { seededRandom } from '../support/seeded-random';

function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'segflow-staging-'));
}

describe('stageInputs', () => {
  it('decompresses and concatenates files, one CSV header, a newline after each file, and maps lines back', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.csv.gz'), gzipSync('\uFEFFtype,userId\r\ntrack,a1\r\ntrack,a2'));
    writeFileSync(join(dir, 'b.csv'), 'type,userId\ntrack,b1\n');
    writeFileSync(join(dir, 'c.csv.gz'), Buffer.concat([gzipSync('type,userId\ntrack,c1\n'), gzipSync('track,c2\n')]));
    const entries = await expandInputSet('directory', dir, 'csv');
    expect(entries.map((e) => [e.name, e.gzip])).toEqual([
      ['a.csv.gz', true],
      ['b.csv', false],
      ['c.csv.gz', true],
    ]);
    const progress: StageCheckpoint[] = [];
    const staged = await stageInputs({
      entries,
      format: 'csv',
      stagedPath: join(dir, 's/input.csv'),
      mapPath: join(dir, 's/files.ndjson'),
      onProgress: (c) => progress.push(c),
    });
    expect(readFileSync(join(dir, 's/input.csv'), 'utf8')).toBe('\uFEFFtype,userId\r\ntrack,a1\r\ntrack,a2\ntrack,b1\ntrack,c1\ntrack,c2\n');
    expect(staged.files.map((f) => [f.name, f.stagedStartLine, f.localStartLine])).toEqual([
      ['a.csv.gz', 1, 1],
      ['b.csv', 4, 2],
      ['c.csv.gz', 5, 2],
    ]);
    expect(locateLine(staged.files, 3)).toMatchObject({ file: { name: 'a.csv.gz' }, line: 3 });
    expect(locateLine(staged.files, 4)).toMatchObject({ file: { name: 'b.csv' }, line: 2 });
    expect(locateLine(staged.files, 6)).toMatchObject({ file: { name: 'c.csv.gz' }, line: 3 });
    expect(progress.map((c) => c.filesDone)).toEqual([1, 2, 3]);
    // The digest the CLI computes from the files as stored is the one staging finds.
    const expected = inputSetDigest(await Promise.all(entries.map(async (e) => ({ name: e.name, sha256: await digestInput(e.location) }))));
    expect(staged.digest).toBe(expected);
  });

  it('stages a gzip file of many read pieces intact (the source refills its buffer; the decompressor reads ahead)', async () => {
    const dir = workDir();
    const random = seededRandom(7);
    // Text that hardly compresses, so the .gz itself spans many 64 KiB reads.
    const lines = Array.from({ length: 4_000 }, (_, i) =>
      JSON.stringify({ n: i, noise: Array.from({ length: 60 }, () => Math.floor(random() * 36).toString(36)).join('') }),
    );
    const text = `${lines.join('\n')}\n`;
    const gz = gzipSync(text);
    expect(gz.length).toBeGreaterThan(2 * 64 * 1024);
    writeFileSync(join(dir, 'big.ndjson.gz'), gz);
    const entries = await expandInputSet('directory', dir, 'ndjson');
    await stageInputs({
      entries,
      format: 'ndjson',
      stagedPath: join(dir, 's/input.ndjson'),
      mapPath: join(dir, 's/files.ndjson'),
      onProgress: () => undefined,
    });
    expect(readFileSync(join(dir, 's/input.ndjson'), 'utf8') === text).toBe(true);
  });

  it('resumes after the last complete file, dropping what a dead attempt wrote after it', async () => {
    const dir = workDir();
    writeFileSync(join(dir, '1.ndjson.gz'), gzipSync('{"n":1}\n{"n":2}\n'));
    writeFileSync(join(dir, '2.ndjson'), '{"n":3}\n');
    const entries = await expandInputSet('directory', dir, 'ndjson');
    const paths = { stagedPath: join(dir, 's/input.ndjson'), mapPath: join(dir, 's/files.ndjson') };
    const checkpoints: StageCheckpoint[] = [];
    await stageInputs({ entries: entries.slice(0, 1), format: 'ndjson', ...paths, onProgress: (c) => checkpoints.push(c) });
    // A dead attempt got partway through the second file.
    writeFileSync(paths.stagedPath, readFileSync(paths.stagedPath, 'utf8') + '{"n":3');
    writeFileSync(paths.mapPath, readFileSync(paths.mapPath, 'utf8') + '{"name":"2.nd');
    const staged = await stageInputs({ entries, format: 'ndjson', ...paths, checkpoint: checkpoints.at(-1), onProgress: () => undefined });
    expect(readFileSync(paths.stagedPath, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
    expect(staged.files.map((f) => [f.name, f.stagedStartLine])).toEqual([
      ['1.ndjson.gz', 1],
      ['2.ndjson', 3],
    ]);
  });

  it('refuses a CSV file whose header differs from the first, naming it', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.csv'), 'type,userId\ntrack,a\n');
    writeFileSync(join(dir, 'b.csv'), 'type,anonymousId\ntrack,b\n');
    const entries = await expandInputSet('directory', dir, 'csv');
    await expect(
      stageInputs({ entries, format: 'csv', stagedPath: join(dir, 's.csv'), mapPath: join(dir, 'm'), onProgress: () => undefined }),
    ).rejects.toThrow(/b\.csv, line 1 \(header\): the CSV header differs/);
  });

  it('says which file is not gzip', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'bad.ndjson.gz'), '{"not":"gzip"}\n');
    const entries = await expandInputSet('directory', dir, 'ndjson');
    await expect(
      stageInputs({ entries, format: 'ndjson', stagedPath: join(dir, 's'), mapPath: join(dir, 'm'), onProgress: () => undefined }),
    ).rejects.toThrow(/bad\.ndjson\.gz: not a valid gzip file/);
  });
});

describe('input sets', () => {
  it('walks a Segment-export-shaped directory in name order, skipping hidden files and links', async () => {
    const dir = workDir();
    for (const day of ['2024-01-02', '2024-01-01']) {
      mkdirSync(join(dir, day));
      writeFileSync(join(dir, day, 'part-1.ndjson.gz'), gzipSync('{}\n'));
      writeFileSync(join(dir, day, 'part-0.ndjson.gz'), gzipSync('{}\n'));
    }
    writeFileSync(join(dir, '.partial.ndjson.gz'), 'x');
    writeFileSync(join(dir, 'README.txt'), 'x');
    symlinkSync('/etc', join(dir, 'link'));
    const names = (await expandInputSet('directory', dir, 'ndjson')).map((e) => e.name);
    expect(names).toEqual([
      '2024-01-01/part-0.ndjson.gz',
      '2024-01-01/part-1.ndjson.gz',
      '2024-01-02/part-0.ndjson.gz',
      '2024-01-02/part-1.ndjson.gz',
    ]);
    const globbed = (await expandInputSet('glob', join(dir, '2024-01-0?/part-1.*'), 'ndjson')).map((e) => e.name);
    expect(globbed).toEqual(['2024-01-01/part-1.ndjson.gz', '2024-01-02/part-1.ndjson.gz']);
    expect((await expandInputSet('glob', join(dir, '**/*.gz'), 'ndjson')).length).toBe(4);
  });

  it('reads a manifest of paths and URLs, keeping paths inside its directory', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.ndjson'), '{}\n');
    writeFileSync(join(dir, 'list.txt'), '# files\na.ndjson\n\nhttps://bucket.example/exp/b.ndjson.gz?X-Amz-Signature=secret\n');
    const entries = await expandInputSet('manifest', join(dir, 'list.txt'), 'ndjson');
    expect(entries.map((e) => [e.name, e.gzip])).toEqual([
      ['a.ndjson', false],
      ['bucket.example/exp/b.ndjson.gz', true],
    ]);
    writeFileSync(join(dir, 'escape.txt'), '../../etc/passwd.ndjson\n');
    await expect(expandInputSet('manifest', join(dir, 'escape.txt'), 'ndjson')).rejects.toThrow(
      /escape\.txt, line 1: .* is outside the manifest's directory/,
    );
    writeFileSync(join(dir, 'mixed.txt'), 'a.ndjson\nb.csv\n');
    await expect(expandInputSet('manifest', join(dir, 'mixed.txt'), 'ndjson')).rejects.toThrow(/line 2: b\.csv is csv, but the import is ndjson/);
  });
});

describe('glob matching', () => {
  it('matches *, ? and ** like a shell', () => {
    expect(matchSegment('part-*.ndjson.gz', 'part-00.ndjson.gz')).toBe(true);
    expect(matchSegment('part-?.csv', 'part-10.csv')).toBe(false);
    expect(matchGlob('**/*.gz', 'a/b/c.gz')).toBe(true);
    expect(matchGlob('**/*.gz', 'c.gz')).toBe(true);
    expect(matchGlob('2024-*/**/x.csv', '2024-01/x.csv')).toBe(true);
    expect(matchGlob('2024-*/*.csv', '2024-01/a/x.csv')).toBe(false);
  });

  it('stays fast on patterns that make backtracking regular expressions explode', () => {
    const name = 'a'.repeat(5000);
    const pattern = `${'*a'.repeat(200)}b`;
    const started = process.hrtime.bigint();
    expect(matchSegment(pattern, name)).toBe(false);
    expect(matchGlob(`${'**/'.repeat(100)}b`, Array.from({ length: 200 }, () => 'a').join('/'))).toBe(false);
    // Generous: a backtracking matcher takes astronomically long here, this one milliseconds.
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(5);
  });
});
