/**
 * Edges of the src/shared helpers that mutation testing found unchecked (docs/mutation-testing.md): the pacer when
 * the clock goes backwards, time ranges that only widen, URL display at 500 characters and for references without a
 * scheme, and the sanitiser on non-strings, exact lengths and surrogates.
 */
import { describe, expect, it } from 'vitest';
import { widenTimeRange, type TimeRange } from '../../src/shared/import-stats';
import { displayLocation, redactUrl, scrubUrlCredentials } from '../../src/shared/location';
import { Pacer } from '../../src/shared/pacer';
import { clipText, hasUnsafeCharacters, plainText } from '../../src/shared/safe-text';

describe('Pacer when the clock goes backwards', () => {
  it('earns nothing for the time it went back', () => {
    const pacer = new Pacer(100);
    pacer.reserve(0, 1_000);
    // 100 tokens at 100/s owe one second, not one and a half.
    expect(pacer.reserve(100, 500)).toBe(1_000);
  });

  it('keeps counting from the latest time seen, so going back does not earn the same time twice', () => {
    const pacer = new Pacer(100);
    pacer.reserve(0, 1_000);
    expect(pacer.waitMs(500)).toBe(0);
    expect(pacer.reserve(100, 1_000)).toBe(1_000);
  });

  it('names the rate it refuses', () => {
    expect(() => new Pacer(0)).toThrow('rate must be > 0, got 0');
  });
});

describe('widenTimeRange', () => {
  it('moves each end outwards only', () => {
    const range: TimeRange = { minTimestamp: '2024-05-01T00:00:00.000Z', maxTimestamp: '2024-05-02T00:00:00.000Z' };
    widenTimeRange(range, '2024-05-01T12:00:00.000Z', '2024-05-01T12:00:00.000Z');
    expect(range).toEqual({ minTimestamp: '2024-05-01T00:00:00.000Z', maxTimestamp: '2024-05-02T00:00:00.000Z' });
    widenTimeRange(range, '2024-04-30T00:00:00.000Z', '2024-05-03T00:00:00.000Z');
    expect(range).toEqual({ minTimestamp: '2024-04-30T00:00:00.000Z', maxTimestamp: '2024-05-03T00:00:00.000Z' });
  });
});

describe('locations as shown', () => {
  it('a reference without a scheme loses its query and fragment, even when it starts with one', () => {
    expect(redactUrl('?X-Amz-Signature=secret')).toBe('');
    expect(redactUrl('#token=secret')).toBe('');
    expect(redactUrl('/v1/batch?token=secret')).toBe('/v1/batch');
  });

  it('a path that merely contains "https://" further on is a path, shown as it is', () => {
    expect(displayLocation('/data/mirror/https://example.com/x.ndjson')).toBe('/data/mirror/https://example.com/x.ndjson');
  });

  it('a URL the parser refuses is shown as "(unparsable URL)"', () => {
    expect(displayLocation('https://user:pw@exa mple.com:99999/x')).toBe('(unparsable URL)');
  });

  it('is at most 500 characters: 500 are shown whole, 501 cut to 497 and "..."', () => {
    const path = (length: number) => `/${'a'.repeat(length - 1)}`;
    expect(displayLocation(path(500))).toBe(path(500));
    expect(displayLocation(path(501))).toBe(`${path(497)}...`);
  });

  it('text with URLs but no user info is left as it is', () => {
    expect(scrubUrlCredentials('GET https://api.segment.io/v1/batch failed')).toBe('GET https://api.segment.io/v1/batch failed');
  });
});

describe('plainText and clipText at their edges', () => {
  it('shows non-strings as JSON, undefined as nothing, and what JSON cannot show as String() does', () => {
    expect(plainText(42)).toBe('42');
    expect(plainText({ a: [1, 'x'] })).toBe('{"a":[1,"x"]}');
    expect(plainText(undefined)).toBe('');
    expect(plainText(Symbol('s'))).toBe('Symbol(s)');
  });

  it('cuts only text longer than the maximum', () => {
    expect(plainText('abcdefghij', 10)).toBe('abcdefghij');
    expect(plainText('abcdefghijk', 10)).toBe('abcdefghij…(+1 chars)');
    expect(clipText('abcdef', 6)).toBe('abcdef');
    expect(clipText('abcdefg', 6)).toBe('abc...');
  });

  it('escapes lone surrogates wherever they are and leaves surrogate pairs whole', () => {
    expect(plainText('\ud83d\ude00')).toBe('\ud83d\ude00');
    expect(hasUnsafeCharacters('\ud83d\ude00')).toBe(false);
    for (const [text, shown] of [
      ['a\ud800b', 'a\\ud800b'],
      ['a\ud800', 'a\\ud800'],
      ['a\udc00b', 'a\\udc00b'],
      ['\udc00b', '\\udc00b'],
      ['\ud800\ud800\udc00', '\\ud800\ud800\udc00'],
    ]) {
      expect(plainText(text), shown).toBe(shown);
      expect(hasUnsafeCharacters(text!), shown).toBe(true);
    }
  });
});
