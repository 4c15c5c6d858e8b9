/**
 * segflow's one wildcard matcher, used twice:
 * - path globs for many-file imports (`segflow import 'export/*\/*.ndjson.gz'`): each `/`-separated segment is
 *   matched by `matchSegment`, and `**` segments by the same greedy-with-one-backtrack idea over segments;
 * - source name patterns (`targets.name` in a job file, `segflow source list --name`): `globMatches`, the same
 *   matcher without regard to case, over the whole name.
 * No regular expressions, so a hostile pattern cannot make matching slow: the classic wildcard algorithm keeps one
 * backtrack point (time O(pattern × name), no nested backtracking), so `**********x` against a long name is as cheap
 * as `*x`, where a translated regex backtracks exponentially in the number of stars.
 *
 * Syntax: `*` any run of characters (within a segment, for paths), `?` one character, `**` as a whole path segment
 * any number of directories (zero included). No braces, classes or escapes: names with those characters match
 * literally. Pure: safe anywhere.
 */

export const MAX_GLOB_LENGTH = 1024;
// The longest source name pattern a job file or the CLI may hold is stated with the job file's limits.
import { MAX_GLOB_CHARS } from '../contracts/job-spec-schema';
export { MAX_GLOB_CHARS };

export function isGlob(text: string): boolean {
  return text.includes('*') || text.includes('?');
}

/** Whether one name (no `/`) matches one pattern segment (no `/`). */
export function matchSegment(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '?' || (c !== undefined && c !== '*' && c === name[n])) {
      p++;
      n++;
    } else if (c === '*') {
      starP = p++;
      starN = n;
    } else if (starP !== -1) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether a source name or slug matches a name pattern, ignoring case. */
export function globMatches(pattern: string, text: string): boolean {
  if (pattern.length > MAX_GLOB_CHARS) throw new RangeError(`a name pattern is at most ${MAX_GLOB_CHARS} characters`);
  return matchSegment(pattern.toLowerCase(), text.toLowerCase());
}

/**
 * Whether a relative path (segments joined by `/`) matches the pattern. `**` segments are handled like `*` in
 * matchSegment, one level up: the last `**` seen is the only backtrack point, which is enough because any later
 * `**` can absorb whatever an earlier one would have.
 */
export function matchGlob(pattern: string, path: string): boolean {
  const ps = pattern.split('/');
  const ns = path.split('/');
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < ns.length) {
    const segment = ps[p];
    if (segment !== undefined && segment !== '**' && matchSegment(segment, ns[n]!)) {
      p++;
      n++;
    } else if (segment === '**') {
      starP = p++;
      starN = n;
    } else if (starP !== -1) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (ps[p] === '**') p++;
  return p === ps.length;
}

/** The directory part of a glob before its first wildcard segment, and the rest (the pattern below it). */
export function splitGlobBase(glob: string): { base: string; pattern: string } {
  const segments = glob.split('/');
  const firstWild = segments.findIndex((segment) => isGlob(segment));
  const baseSegments = segments.slice(0, firstWild);
  const base = baseSegments.join('/') || (glob.startsWith('/') ? '/' : '.');
  return { base, pattern: segments.slice(firstWild).join('/') };
}
