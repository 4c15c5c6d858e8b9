/**
 * Edges of two input checks: a --report-dir must stay inside SEGFLOW_REPORT_DIR (src/activities/input-checks.ts
 * reportRoot), and a CSV field that does not start with a quote may not hold one anywhere, its last character
 * included (src/io/chunk-planner.ts splitCsvFields, which the record reader uses).
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportRoot } from '../../src/activities/input-checks';
import { splitCsvFields } from '../../src/io/chunk-planner';

const base = resolve('/srv/segflow-reports');
const env = { SEGFLOW_REPORT_DIR: base };

describe('reportRoot keeps --report-dir inside SEGFLOW_REPORT_DIR', () => {
  it.each(['..', '../', '../other', 'a/../..', 'a/../../b', './..', '/srv/segflow-reports/x', '/tmp'])('refuses %j', (explicit) => {
    expect(() => reportRoot(env, explicit, 'job-1')).toThrow(
      expect.objectContaining({ type: 'InvalidReportDir', message: expect.stringContaining('SEGFLOW_REPORT_DIR') }),
    );
  });

  it.each([
    ['.', base],
    ['a/..', base],
    ['nightly', join(base, 'nightly')],
    // A name that only starts with two dots is a sub-directory like any other.
    ['..nightly', join(base, '..nightly')],
    ['a/..b', join(base, 'a/..b')],
    ['a/b/../c', join(base, 'a/c')],
  ])('takes %j as %s', (explicit, expected) => {
    expect(reportRoot(env, explicit, 'job-1')).toBe(expected);
  });
});

describe('splitCsvFields and quotes in unquoted fields', () => {
  it.each([
    ['a,b"', 2],
    ['a,b",c', 2],
    ['a"', 1],
    ['a"b,c', 1],
    ['"a",b"', 2],
    ['x,y,z"', 3],
  ])('refuses %j, naming field %i', (text, field) => {
    expect(splitCsvFields(text)).toEqual({
      error: expect.stringMatching(new RegExp(`^field ${field} contains a quote but does not start with one`)),
    });
  });

  it.each([
    ['a,"b"', ['a', 'b']],
    ['a,""', ['a', '']],
    ['"a""",b', ['a"', 'b']],
    ['"",""', ['', '']],
  ])('reads %j', (text, values) => {
    expect(splitCsvFields(text)).toEqual({ values });
  });
});
