import { describe, expect, it } from 'vitest';
import { checkImportRequest } from '../../src/client';
import { displayLocation, isHttpLocation, locationName, redactUrl, scrubUrlCredentials, UNPARSABLE_URL } from '../../src/shared/location';

describe('isHttpLocation: the one http(s) test', () => {
  it.each([
    ['https://host/a.ndjson', true],
    ['http://host/a.ndjson', true],
    ['HTTPS://HOST/a.ndjson', true],
    ['Http://host/a.ndjson', true],
    ['file:///data/a.ndjson', false],
    ['s3://bucket/a.ndjson', false],
    ['/data/https://x', false],
    ['https:/host/a.ndjson', false],
    ['data/a.ndjson', false],
  ])('%s -> %s', (location, expected) => {
    expect(isHttpLocation(location)).toBe(expected);
  });

  it('an upper-case HTTPS URL stays a URL when an import is checked (it was once resolved as a local path)', async () => {
    const file = 'HTTPS://127.0.0.1:9/exports/events.ndjson?X-Amz-Signature=abc';
    const checked = await checkImportRequest({ file, jobId: 'upper-case-scheme' });
    expect(checked.file).toBe(file);
    expect(checked.format).toBe('ndjson');
  });
});

describe('locationName: the name part of a location', () => {
  it.each([
    ['https://bucket.example/exports/day-1.ndjson.gz?X-Amz-Signature=abc', '/exports/day-1.ndjson.gz'],
    ['HTTP://host/a.csv#x', '/a.csv'],
    ['/data/what?.csv', '/data/what?.csv'],
    ['exports/a.ndjson', 'exports/a.ndjson'],
  ])('%s -> %s', (location, name) => {
    expect(locationName(location)).toBe(name);
  });
});

describe('redactUrl: the one URL redaction', () => {
  it.each([
    ['https://bucket.example/a/b.csv?X-Amz-Signature=abc', 'https://bucket.example/a/b.csv'],
    ['HTTPS://user:pass@host:8080/x.ndjson#frag', 'https://host:8080/x.ndjson'],
    ['s3://key:secret@bucket/x', 's3://bucket/x'],
    ['/v1/batch?token=abc', '/v1/batch'],
    ['/v1/batch#frag', '/v1/batch'],
    ['relative/path', 'relative/path'],
  ])('%s -> %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('displayLocation redacts URLs of any scheme but keeps a path whole (? and # are legal in file names)', () => {
    expect(displayLocation('ftp://u:p@host/x?sig=1')).toBe('ftp://host/x');
    expect(displayLocation('/data/what?.csv')).toBe('/data/what?.csv');
    expect(displayLocation('/d/' + 'x'.repeat(600))).toHaveLength(500);
  });

  it('an @ inside the password: the user info ends at the last @, as the fetch reads it (nothing of the password shows)', () => {
    expect(redactUrl('https://user:pa@ss@host/x')).toBe('https://host/x');
    expect(displayLocation('https://user:pa@ss@host/x?sig=1')).toBe('https://host/x');
    expect(scrubUrlCredentials('GET https://user:pa@ss@host/x failed')).toBe('GET https://***@host/x failed');
  });

  it('a 300-character password is removed whole, by redactUrl and by scrubUrlCredentials', () => {
    const url = `https://user:${'p'.repeat(300)}@host/x?X-Amz-Signature=abc`;
    expect(redactUrl(url)).toBe('https://host/x');
    expect(scrubUrlCredentials(`fetch ${url} failed`)).toBe('fetch https://***@host/x?X-Amz-Signature=abc failed');
  });

  it.each(['https://[::1/x?sig=s3cret', 'http://exa mple.com/a?sig=s3cret', 'https://host:99999/x?sig=s3cret', 'https://user:p/ss@host/x'])(
    'an unparsable URL is shown as a fixed placeholder, never as its text: %s',
    (url) => {
      expect(redactUrl(url)).toBe(UNPARSABLE_URL);
      expect(displayLocation(url)).toBe(UNPARSABLE_URL);
    },
  );

  it('scrubUrlCredentials masks the user info of every URL inside a text', () => {
    expect(scrubUrlCredentials('fetch https://alice:s3cret@host/x failed; retry s3://k:v@b/y')).toBe(
      'fetch https://***@host/x failed; retry s3://***@b/y',
    );
  });
});
