/**
 * Staging gzip and many-file inputs into one plain file, the line map, resume at file boundaries, the CSV header
 * rule, the content digest; and the input-set resolver (directory, glob, manifest, containment) with its glob matcher.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FailureType } from '../../src/contracts/failures';
import { matchGlob, matchSegment } from '../../src/core/glob';
import { expandInputSet } from '../../src/io/input-set';
import { createActivities } from '../../src/worker';
import { digestInput, inputSetDigest, locateLine, stageInputs, StagingError, type StageCheckpoint } from '../../src/io/staging';
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

describe('staging is bounded and fails cleanly', () => {
  /** Staged and map paths in their own directory, to show what a failure leaves there. */
  function stagedPaths(dir: string) {
    return { stagedPath: join(dir, 'staged', 'input.ndjson'), mapPath: join(dir, 'staged', 'files.ndjson') };
  }
  const failureOf = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    );

  it('stops a gzip bomb by its expansion ratio while decompressing, naming the file and the variable, and removes the staged files', async () => {
    const dir = workDir();
    // 24 MiB of newlines, ~24 KB of gzip: ~1000 times, where real exports compress 5-20 times.
    writeFileSync(join(dir, 'bomb.ndjson.gz'), gzipSync(Buffer.alloc(24 * 1024 * 1024, 0x0a)));
    const paths = stagedPaths(dir);
    const started = Date.now();
    const error = await failureOf(
      stageInputs({ entries: await expandInputSet('directory', dir, 'ndjson'), format: 'ndjson', ...paths, env: {}, onProgress: () => undefined }),
    );
    expect(error).toBeInstanceOf(StagingError);
    expect((error as StagingError).failureType).toBe(FailureType.InputInvalid);
    expect((error as Error).message).toMatch(
      /^bomb\.ndjson\.gz: decompresses to more than 100 times its compressed size .* raise SEGFLOW_STAGING_MAX_RATIO/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(readdirSync(join(dir, 'staged'))).toEqual([]);
    // The same file with the ratio raised stages whole.
    const staged = await stageInputs({
      entries: await expandInputSet('directory', dir, 'ndjson'),
      format: 'ndjson',
      ...paths,
      env: { SEGFLOW_STAGING_MAX_RATIO: '2000' },
      onProgress: () => undefined,
    });
    expect(staged.checkpoint.bytesWritten).toBe(24 * 1024 * 1024);
  });

  it('judges the ratio on the compressed bytes the decompressor consumed, not those read ahead: a 200 MB bomb stops at 8 MiB', async () => {
    const dir = workDir();
    const file = join(dir, 'bomb.ndjson.gz');
    // ~200 KB of gzip, more than one 256 KiB local read: read-ahead counting would let ~20 MB through.
    const gzip = createGzip({ level: 9 });
    const written = gzip.pipe(createWriteStream(file));
    for (let i = 0; i < 200; i++) if (!gzip.write(Buffer.alloc(1024 * 1024, 0x0a))) await once(gzip, 'drain');
    gzip.end();
    await once(written, 'close');
    const error = await failureOf(
      stageInputs({
        entries: await expandInputSet('directory', dir, 'ndjson'),
        format: 'ndjson',
        ...stagedPaths(dir),
        env: {},
        onProgress: () => undefined,
      }),
    );
    expect((error as Error).message).toMatch(/decompresses to more than 100 times its compressed size \(8\.\d MiB from its first \d+ bytes\)/);
  });

  it('stops at SEGFLOW_STAGING_MAX_BYTES over all files together, naming it', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.ndjson'), '{"n":1}\n'.repeat(100));
    writeFileSync(join(dir, 'b.ndjson.gz'), gzipSync('{"n":2}\n'.repeat(100)));
    const paths = stagedPaths(dir);
    const entries = await expandInputSet('directory', dir, 'ndjson');
    const error = await failureOf(
      stageInputs({ entries, format: 'ndjson', ...paths, env: { SEGFLOW_STAGING_MAX_BYTES: '1200' }, onProgress: () => undefined }),
    );
    expect((error as Error).message).toMatch(/^b\.ndjson\.gz: staging this job's input would pass 1200 bytes .*SEGFLOW_STAGING_MAX_BYTES/);
    expect(readdirSync(join(dir, 'staged'))).toEqual([]);
    // 1,600 bytes fit under a 1,600-byte cap.
    await expect(
      stageInputs({ entries, format: 'ndjson', ...paths, env: { SEGFLOW_STAGING_MAX_BYTES: '1600' }, onProgress: () => undefined }),
    ).resolves.toMatchObject({ checkpoint: { bytesWritten: 1600 } });
  });

  it('refuses a staging limit that is not a number, naming the variable', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.ndjson'), '{}\n');
    const error = await failureOf(
      stageInputs({
        entries: await expandInputSet('directory', dir, 'ndjson'),
        format: 'ndjson',
        ...stagedPaths(dir),
        env: { SEGFLOW_STAGING_MAX_RATIO: 'lots' },
        onProgress: () => undefined,
      }),
    );
    expect((error as StagingError).failureType).toBe(FailureType.InvalidConfig);
    expect((error as Error).message).toMatch(/^SEGFLOW_STAGING_MAX_RATIO must be a number/);
  });

  it('stops a worker from starting with a staging limit that is not a number, naming the variable', () => {
    expect(() => createActivities({ SEGFLOW_STAGING_MAX_BYTES: '10GB' })).toThrow(/^SEGFLOW_STAGING_MAX_BYTES must be a number of bytes/);
    expect(() => createActivities({ SEGFLOW_STAGING_MAX_RATIO: '0' })).toThrow(/^SEGFLOW_STAGING_MAX_RATIO must be .*, at least 1; got "0"/);
  });

  it('turns a full disk (ENOSPC) into a StagingDiskFull failure naming the staged directory', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.ndjson'), '{}\n'.repeat(1000));
    const paths = stagedPaths(dir);
    mkdirSync(join(dir, 'staged'));
    // Every write to /dev/full fails with ENOSPC: a real full disk, no fake stream.
    symlinkSync('/dev/full', paths.stagedPath);
    const error = await failureOf(
      stageInputs({ entries: await expandInputSet('directory', dir, 'ndjson'), format: 'ndjson', ...paths, onProgress: () => undefined }),
    );
    expect((error as StagingError).failureType).toBe(FailureType.StagingDiskFull);
    expect((error as Error).message).toBe(
      `Cannot stage the input in ${join(dir, 'staged')}: no space is left on the device (ENOSPC); free space there, or point the workers' SEGFLOW_REPORT_DIR at a larger volume, then start the import again`,
    );
  });

  it('fails an attempt whose staged file cannot be opened with a rejection, not an unhandled stream error', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'a.ndjson'), '{}\n');
    const paths = stagedPaths(dir);
    // A directory where the staged file should be: opening it fails (EISDIR) after the stream is made.
    mkdirSync(paths.stagedPath, { recursive: true });
    const error = await failureOf(
      stageInputs({ entries: await expandInputSet('directory', dir, 'ndjson'), format: 'ndjson', ...paths, onProgress: () => undefined }),
    );
    expect((error as { code?: string }).code).toBe('EISDIR');
  }, 10_000);

  it("creates the map file's directory too, and starts over when a resumed attempt finds the staged files gone", async () => {
    const dir = workDir();
    writeFileSync(join(dir, '1.ndjson'), '{"n":1}\n');
    writeFileSync(join(dir, '2.ndjson'), '{"n":2}\n');
    const entries = await expandInputSet('directory', dir, 'ndjson');
    const paths = { stagedPath: join(dir, 'staged', 'input.ndjson'), mapPath: join(dir, 'map-dir', 'files.ndjson') };
    const gone: StageCheckpoint = { filesDone: 1, bytesWritten: 8, linesWritten: 1, mapBytes: 90 };
    const staged = await stageInputs({ entries, format: 'ndjson', ...paths, checkpoint: gone, onProgress: () => undefined });
    expect(readFileSync(paths.stagedPath, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
    expect(staged.files.map((f) => f.name)).toEqual(['1.ndjson', '2.ndjson']);
  });

  it('fails on a gzip stream corrupted after a valid start, naming the file, and removes the staged files', async () => {
    const dir = workDir();
    const gz = gzipSync(Buffer.from(Array.from({ length: 20_000 }, (_, i) => `{"n":${i}}`).join('\n')));
    gz.fill(0xff, 40, 400);
    writeFileSync(join(dir, 'broken.ndjson.gz'), gz);
    const paths = stagedPaths(dir);
    const error = await failureOf(
      stageInputs({ entries: await expandInputSet('directory', dir, 'ndjson'), format: 'ndjson', ...paths, onProgress: () => undefined }),
    );
    expect((error as Error).message).toMatch(/^broken\.ndjson\.gz: not a valid gzip file/);
    expect(readdirSync(join(dir, 'staged'))).toEqual([]);
  });

  it('fails on a URL whose connection drops mid-body with a rejection, not an unhandled stream error', async () => {
    const dir = workDir();
    const body = Buffer.alloc(100_000, 0x61);
    const server = createServer((req, res) => {
      if (req.headers.range === 'bytes=0-0') {
        res.writeHead(206, { 'content-range': `bytes 0-0/${body.length}`, 'content-length': 1 }).end(body.subarray(0, 1));
        return;
      }
      res.writeHead(206, { 'content-range': `bytes 0-${body.length - 1}/${body.length}`, 'content-length': body.length });
      res.write(body.subarray(0, 1000), () => res.destroy());
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.ndjson`;
      const error = await failureOf(
        stageInputs({
          entries: [{ location: url, name: 'x.ndjson', gzip: false }],
          format: 'ndjson',
          ...stagedPaths(dir),
          onProgress: () => undefined,
        }),
      );
      expect(error).toBeInstanceOf(Error);
      expect(existsSync(join(dir, 'staged', 'input.ndjson'))).toBe(true); // retryable: kept for the next attempt
    } finally {
      server.close();
    }
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

  it('refuses a manifest that lists one file twice, however it is spelled, naming both lines', async () => {
    const dir = workDir();
    mkdirSync(join(dir, 'day'));
    writeFileSync(join(dir, 'day', 'a.ndjson'), '{}\n');
    writeFileSync(join(dir, 'paths.txt'), 'day/a.ndjson\n# again\n./day/../day/a.ndjson\n');
    await expect(expandInputSet('manifest', join(dir, 'paths.txt'), 'ndjson')).rejects.toThrow(
      /paths\.txt, line 3: day\/a\.ndjson is already listed on line 1; list each file once\./,
    );
    writeFileSync(
      join(dir, 'urls.txt'),
      'https://bucket.example/x.ndjson?sig=1\nHTTPS://BUCKET.example:443/x.ndjson?sig=1\nhttps://bucket.example/x.ndjson?sig=2\n',
    );
    await expect(expandInputSet('manifest', join(dir, 'urls.txt'), 'ndjson')).rejects.toThrow(/urls\.txt, line 2: .* is already listed on line 1/);
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

  // Patterns that make backtracking matchers explode: test/unit/linear-time.test.ts, in a child process with a deadline.
});
