/**
 * The pathological-input cases (test/support/linear-time-cases.ts), each in a child process with a deadline
 * (test/support/deadline.ts): a regression to quadratic or backtracking time fails here within seconds instead of
 * hanging the suite. Every case takes well under a second on a busy 2-core machine; the deadline is generous.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWithDeadline } from '../support/deadline';

const CASES = join(__dirname, '..', 'support', 'linear-time-cases.ts');
const DEADLINE_MS = 5_000;
const MIB = 1 << 20;
const numberCellRefused = { ok: false, field: 'properties.revenue:number', shortReason: true };

describe('linear-time checks return within their deadline', () => {
  it.each<[string, unknown]>([
    ['csvNumberCells', [numberCellRefused, numberCellRefused, numberCellRefused, numberCellRefused]],
    ['globManyStars', [false, false, true]],
    ['stagingGlobs', [false, false]],
    ['urlScrubbing', [8 + MIB, 'https://***@'.length, MIB, MIB + 3, 'https://host/'.length]],
    ['safeText', [6 * MIB, 6 * MIB, MIB + 1]],
    ['rateLimitHeaders', [null, null, null]],
    ['messageText', ['track', null, 'track', null]],
    ['csvFields', [1, 1, MIB + 1, 'field 1 contains a quote but does not st', Math.floor(MIB / 3) + 1]],
  ])('%s', async (name, expected) => {
    const { value } = await runWithDeadline(CASES, name, DEADLINE_MS);
    expect(value).toEqual(expected);
  });

  it('a case that never returns fails at its deadline, naming the case', async () => {
    const started = performance.now();
    await expect(runWithDeadline(CASES, 'spinsForever', 500)).rejects.toThrow('spinsForever did not return within 500 ms');
    // The child's start-up is not part of the deadline, so allow for it, but not for a hung child.
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
