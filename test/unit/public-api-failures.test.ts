/**
 * The Public API's failure table (src/segment/public-api-errors.ts classifyFailure, parseErrorEntries) with the
 * exact words of each message, and what an activity hands Temporal (src/segment/public-api-failure.ts); written for
 * the survivors of the Stryker run (docs/mutation-testing.md).
 */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { classifyFailure, parseErrorEntries } from '../../src/segment/public-api-errors';
import { toApplicationFailure } from '../../src/segment/public-api-failure';

const request = { method: 'PATCH', path: '/sources/src_1' };
const body = JSON.stringify({ errors: [{ type: 'validation', field: 'name', message: 'too long' }, { type: 'other' }] });

describe('classifyFailure', () => {
  it.each<[number, string, string]>([
    [401, 'auth', 'check SEGMENT_API_TOKEN, its workspace and its permissions'],
    [403, 'auth', 'check SEGMENT_API_TOKEN, its workspace and its permissions'],
    [404, 'not-found', 'no such resource (or route in this API version)'],
    [400, 'validation', 'the request was refused as invalid'],
    [422, 'validation', 'the request was refused as invalid'],
    [500, 'server', 'Segment-side failure, retryable'],
    [409, 'request', 'request refused'],
  ])('%i is %s, worded in full with every reason Segment gave', (status, kind, hint) => {
    const error = classifyFailure(status, {}, body, request, 0);
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(`Segment Public API PATCH /sources/src_1 answered ${status} (name: too long; other): ${hint}`);
  });

  it('429 says how long to wait, in whole seconds', () => {
    const error = classifyFailure(429, { 'retry-after': '2.5' }, '', request, 0);
    expect(error).toMatchObject({ kind: 'rate-limited', retryAfterMs: 2_500 });
    expect(error.message).toBe('Segment Public API PATCH /sources/src_1 answered 429: rate limited, retry in 3 s');
  });
});

describe('parseErrorEntries', () => {
  it('keeps only entries that are objects with a string type', () => {
    const text = JSON.stringify({ errors: [null, 'x', { message: 'no type' }, { type: 5 }, { type: 'kept', message: 'm' }] });
    expect(parseErrorEntries(text)).toEqual([{ type: 'kept', message: 'm' }]);
  });

  it('reads anything else as one entry of at most 200 characters of the trimmed text, or none', () => {
    expect(parseErrorEntries(`  ${'t'.repeat(300)}  `)).toEqual([{ type: 'unparsed', message: 't'.repeat(200) }]);
    expect(parseErrorEntries('{"errors": "not a list"}')).toEqual([{ type: 'unparsed', message: '{"errors": "not a list"}' }]);
    expect(parseErrorEntries('   ')).toEqual([]);
  });
});

describe('toApplicationFailure', () => {
  it('carries the kind, status and path as details, and leaves other errors alone', () => {
    const failure = toApplicationFailure(classifyFailure(404, {}, '', request, 0));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ nonRetryable: true, details: [{ kind: 'not-found', status: 404, path: '/sources/src_1' }] });
    const other = new Error('cancelled');
    expect(toApplicationFailure(other)).toBe(other);
  });
});
