import { describe, expect, it } from 'vitest';
import { globMatches, matchSegment } from '../../src/core/glob';
import { seededRandom } from '../support/seeded-random';

/** The obvious reading of a wildcard pattern, as a regular expression: fine as a reference on short inputs. */
function reference(pattern: string, text: string, flags: string): boolean {
  const source = [...pattern].map((c) => (c === '*' ? '[^]*' : c === '?' ? '[^]' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, flags).test(text);
}

describe('the one wildcard matcher', () => {
  const random = seededRandom(11);
  const pick = (alphabet: string, max: number) =>
    Array.from({ length: Math.floor(random() * (max + 1)) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');

  it('matchSegment (paths) and globMatches (source names, any case) agree with the regex reading on 20,000 random pairs', () => {
    for (let round = 0; round < 20_000; round++) {
      const pattern = pick('aAb*?.-', 7);
      const text = pick('aAb*?.-', 9);
      expect(matchSegment(pattern, text), `matchSegment(${pattern}, ${text})`).toBe(reference(pattern, text, ''));
      expect(globMatches(pattern, text), `globMatches(${pattern}, ${text})`).toBe(reference(pattern, text, 'i'));
    }
  });
});
