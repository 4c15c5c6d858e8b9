import { mkdtempSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFileSource } from '../../src/io/local-file-source';
import { displayLocation } from '../../src/shared/location';
import { HttpRangeSource } from '../../src/io/http-source';
import { startRangeServer, type RangeServer } from '../support/range-server';

let server: RangeServer;
let noRanges: RangeServer;
const content = 'héllo wörld\n'.repeat(1000);

beforeAll(async () => {
  server = await startRangeServer({ requireQuery: '?X-Signature=secret' });
  server.put('/bucket/events.ndjson', content);
  server.put('/bucket/empty.ndjson', '');
  noRanges = await startRangeServer({ ignoreRange: true });
  noRanges.put('/events.ndjson', content);
});

afterAll(async () => {
  await server.stop();
  await noRanges.stop();
});

async function collect(iterable: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of iterable) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

describe('HttpRangeSource', () => {
  const signed = () => new HttpRangeSource(server.url('/bucket/events.ndjson?X-Signature=secret'));

  it('learns the size from a one-byte range request (a presigned GET URL allows no HEAD)', async () => {
    expect(await signed().size()).toBe(Buffer.byteLength(content));
    expect(server.requests.at(-1)).toMatchObject({ range: 'bytes=0-0', status: 206 });
  });

  it('reads exactly the asked byte range, multi-byte characters included', async () => {
    const whole = Buffer.from(content);
    for (const [start, end] of [
      [0, 10],
      [1, 2],
      [100, 5000],
      [whole.length - 7, whole.length],
    ] as const) {
      expect((await collect(signed().openRange(start, end))).equals(whole.subarray(start, end))).toBe(true);
    }
    expect(server.requests.at(-1)).toMatchObject({ range: `bytes=${whole.length - 7}-${whole.length - 1}`, status: 206 });
  });

  it('reads a long range in windows, and a reader that stops early costs at most one window', async () => {
    const windowed = () => new HttpRangeSource(server.url('/bucket/events.ndjson?X-Signature=secret'), { windowBytes: 1000 });
    const whole = Buffer.from(content);
    expect((await collect(windowed().openRange(10, whole.length))).equals(whole.subarray(10))).toBe(true);
    // The chunk planner opens up to the end of the file and stops after a few chunks.
    const before = server.requests.length;
    for await (const piece of windowed().openRange(0, whole.length)) {
      expect(piece.length).toBe(1000);
      break;
    }
    expect(server.requests.slice(before).map((r) => r.range)).toEqual(['bytes=0-999']);
  });

  it('keeps the query string (a credential) out of its description', () => {
    expect(signed().description).toBe(server.url('/bucket/events.ndjson'));
  });

  it('reports an empty object as size 0', async () => {
    expect(await new HttpRangeSource(server.url('/bucket/empty.ndjson?X-Signature=secret')).size()).toBe(0);
  });

  it('refuses a server that ignores Range, and says so', async () => {
    const source = new HttpRangeSource(noRanges.url('/events.ndjson'));
    await expect(source.size()).rejects.toThrow(/ignores Range/);
    await expect(collect(source.openRange(5, 10))).rejects.toThrow(/ignores Range/);
  });

  it('names access problems without echoing the signature', async () => {
    const source = new HttpRangeSource(server.url('/bucket/events.ndjson?X-Signature=wrong-sig-42'));
    const error = await source.size().catch((e: Error) => e);
    expect(String(error)).toMatch(/access denied/);
    expect(String(error)).not.toContain('wrong-sig-42');
  });
});

describe('displayLocation', () => {
  it.each([
    ['https://bucket.s3.amazonaws.com/a/b.csv?X-Amz-Signature=abc&X-Amz-Credential=def', 'https://bucket.s3.amazonaws.com/a/b.csv'],
    ['http://user:pass@host:8080/x.ndjson#frag', 'http://host:8080/x.ndjson'],
    ['/data/events.csv', '/data/events.csv'],
  ])('%s -> %s', (input, shown) => {
    expect(displayLocation(input)).toBe(shown);
  });

  describe('pinned to the version the job first read', () => {
    it('reports a strong ETag as the version and sends If-Match on every range read', async () => {
      const store = await startRangeServer();
      try {
        store.put('/pinned.ndjson', content);
        const version = await new HttpRangeSource(store.url('/pinned.ndjson')).version();
        expect(version).toMatch(/^etag "[0-9a-f]{32}"$/);
        const pinned = new HttpRangeSource(store.url('/pinned.ndjson'), { pinnedVersion: version });
        expect((await collect(pinned.openRange(0, 100))).equals(Buffer.from(content).subarray(0, 100))).toBe(true);

        // Overwritten in place with the same size: the pinned read is refused (412), never served the new bytes.
        store.put('/pinned.ndjson', content.replace('héllo', 'HÉLLO'));
        await expect(collect(pinned.openRange(0, 100))).rejects.toMatchObject({
          status: 412,
          message: expect.stringMatching(/changed since the job first read it/),
        });
        expect(await new HttpRangeSource(store.url('/pinned.ndjson')).version()).not.toBe(version);
      } finally {
        await store.stop();
      }
    });

    it('falls back to Last-Modified (If-Unmodified-Since) where the server sends no ETag', async () => {
      const store = await startRangeServer({ lastModifiedOnly: true });
      try {
        store.put('/dated.ndjson', content);
        const version = await new HttpRangeSource(store.url('/dated.ndjson')).version();
        expect(version).toMatch(/^last-modified \w{3}, \d{2} \w{3} \d{4}/);
        const pinned = new HttpRangeSource(store.url('/dated.ndjson'), { pinnedVersion: version });
        await collect(pinned.openRange(0, 10));
        store.put('/dated.ndjson', content);
        await expect(collect(pinned.openRange(0, 10))).rejects.toMatchObject({ status: 412 });
      } finally {
        await store.stop();
      }
    });
  });
});

describe('LocalFileSource version', () => {
  it('changes when a file is replaced or rewritten with the same size, and not when it is only read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-version-'));
    const file = join(dir, 'events.ndjson');
    writeFileSync(file, content);
    utimesSync(file, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    const source = new LocalFileSource(file);
    const first = await source.version();
    await collect(source.openRange(0, 50));
    expect(await source.version()).toBe(first);

    // Same size, same bytes, new modification time: another version.
    writeFileSync(file, content);
    expect(await source.version()).not.toBe(first);

    // Same size and the old modification time restored, but another file (a copy renamed over it): another inode.
    const copy = join(dir, 'copy.ndjson');
    writeFileSync(copy, content);
    const old = statSync(file);
    utimesSync(copy, old.atime, old.mtime);
    const beforeRename = await source.version();
    renameSync(copy, file);
    expect(await source.version()).not.toBe(beforeRename);
  });
});
