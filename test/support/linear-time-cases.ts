/**
 * Pathological inputs for the checks that must stay linear-time (README "What a worker may read": every pattern that
 * sees row data is linear-time). Each export is one case; test/unit/linear-time.test.ts runs each in a child process
 * with a deadline (test/support/deadline.ts) and compares what it returns.
 */
import { compileCsvHeader, isCsvHeaderError } from '../../src/core/csv-mapping';
import { globMatches, matchGlob, matchSegment } from '../../src/core/glob';
import { MessageTextReader } from '../../src/core/message-text';
import { parseRateLimitReset, parseRetryAfter } from '../../src/core/retry-policy';
import { splitCsvFields } from '../../src/io/chunk-planner';
import { redactUrl, scrubUrlCredentials } from '../../src/shared/location';
import { markdownText, plainText } from '../../src/shared/safe-text';

const MIB = 1 << 20;

/** 1 MiB :number cells are refused with a short reason (the length cap comes before any pattern). */
export function csvNumberCells(): Array<{ ok: boolean; field?: string; shortReason?: boolean }> {
  const compiled = compileCsvHeader(['type', 'userId', 'event', 'properties.revenue:number']);
  if (isCsvHeaderError(compiled)) throw new Error(compiled.error);
  return ['1'.repeat(MIB) + 'a', '1'.repeat(60_000) + 'a', '9'.repeat(MIB), ` ${'1'.repeat(MIB)}.`].map((cell) => {
    const result = compiled.map(['track', 'u', 'E', cell]);
    return result.ok ? { ok: true } : { ok: false, field: result.field, shortReason: result.reason.length < 200 };
  });
}

/** Many stars against a long name: a regex translation backtracks for seconds on 24 characters with ten stars. */
export function globManyStars(): boolean[] {
  return [
    globMatches('*'.repeat(60) + 'x', 'a'.repeat(5000)),
    globMatches('*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000)),
    globMatches('*a*a*a*a*a*a*a*a*a*a*a*a*a', 'a'.repeat(5000)),
  ];
}

/** Staging's path globs: `*a` 200 times and `**\/` 100 times, which explode a backtracking matcher. */
export function stagingGlobs(): boolean[] {
  return [
    matchSegment(`${'*a'.repeat(200)}b`, 'a'.repeat(5000)),
    matchGlob(`${'**/'.repeat(100)}b`, Array.from({ length: 200 }, () => 'a').join('/')),
  ];
}

/** URL credential scrubbing over text that looks like endless authorities, user infos or schemes. */
export function urlScrubbing(): number[] {
  return [
    scrubUrlCredentials(`https://${'a'.repeat(MIB)}`).length,
    scrubUrlCredentials(`https://${'a@'.repeat(MIB / 2)}`).length,
    scrubUrlCredentials('https://'.repeat(MIB / 8)).length,
    scrubUrlCredentials(`${'a'.repeat(MIB)}://`).length,
    redactUrl(`https://${'a:'.repeat(MIB / 2)}@host/`).length,
  ];
}

/** The sanitiser over a megabyte of controls, lone surrogates and markdown. */
export function safeText(): number[] {
  return [
    plainText('\u009b'.repeat(MIB), Infinity).length,
    plainText('\ud800'.repeat(MIB), Infinity).length,
    markdownText('_a'.repeat(MIB / 2), Infinity).length,
  ];
}

/** Rate-limit headers of a megabyte: refused by length before any pattern runs. */
export function rateLimitHeaders(): Array<number | null> {
  return [parseRetryAfter(`${' '.repeat(MIB)}1`), parseRateLimitReset('1'.repeat(MIB)), parseRetryAfter(`1.${'1'.repeat(MIB)}x`)].map(
    (ms) => ms ?? null,
  );
}

/** The text path over a megabyte-long value, deep nesting and endless escapes: undefined (parse path) or a summary. */
export function messageText(): Array<string | null> {
  const reader = new MessageTextReader();
  const row = (properties: string) => `{"type":"track","userId":"u","event":"E","properties":${properties}}`;
  return [
    row(`{"k":"${'x'.repeat(MIB)}"}`),
    row(`{"k":${'['.repeat(MIB / 4)}${']'.repeat(MIB / 4)}}`),
    row(`{"k":"${'\\u0041'.repeat(MIB / 6)}"}`),
    row(`{"k":"${'\\'.repeat(MIB)}`),
  ].map((text) => reader.accept(text)?.type ?? null);
}

/** The CSV splitter over a megabyte of quotes, doubled quotes and commas. */
export function csvFields(): Array<number | string> {
  return ['"'.repeat(MIB), `"${'""'.repeat(MIB / 2)}"`, ','.repeat(MIB), `a${'"'.repeat(MIB)}`, '"",'.repeat(MIB / 3)].map((text) => {
    const result = splitCsvFields(text);
    return result.values !== undefined ? result.values.length : result.error.slice(0, 40);
  });
}

/** Never returns: test/unit/linear-time.test.ts checks that the deadline ends it. */
export function spinsForever(): never {
  for (;;) {
    // A busy loop, as a catastrophic backtrack would be.
  }
}
