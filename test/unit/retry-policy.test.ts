import { describe, it, expect } from 'vitest';
import {
  MIN_RATE_LIMIT_DELAY_MS,
  backoffDelayMs,
  classifyTrackingResponse,
  parseRateLimitReset,
  parseRetryAfter,
  type RetryDecision,
  type TrackingOutcome,
} from '../../src/core/retry-policy';

const now = new Date('2024-06-01T12:00:00.000Z');
const nowSeconds = now.getTime() / 1000;

function status(code: number, headers: Record<string, string | string[] | undefined> = {}): TrackingOutcome {
  return { status: code, headers };
}

// Numbered so a failing case is easy to find and discuss (the style of analytics-node's publisher tests).
const table: Array<[number, string, TrackingOutcome, RetryDecision['action'], number | undefined, RegExp | undefined]> = [
  [1, '200 OK', status(200), 'success', undefined, undefined],
  [2, '201', status(201), 'success', undefined, undefined],
  [3, '204', status(204), 'success', undefined, undefined],
  [
    4,
    '301: only 2xx is delivery (redirects are not followed)',
    status(301, { location: 'https://api.segment.io/' }),
    'fatal',
    undefined,
    /SEGMENT_TRACKING_URL.*redirect to https:\/\/api\.segment\.io/,
  ],
  [5, '399', status(399), 'fatal', undefined, /SEGMENT_TRACKING_URL/],
  [6, '400 payload bad -> split', status(400), 'split', undefined, /400/],
  [7, '413 too large -> split', status(413), 'split', undefined, /413/],
  [8, '429 Retry-After seconds', status(429, { 'retry-after': '7' }), 'retry', 7_000, /Retry-After/],
  [9, '429 Retry-After fractional seconds', status(429, { 'retry-after': '2.5' }), 'retry', 2_500, /Retry-After/],
  [10, '429 Retry-After capped at 300 s', status(429, { 'retry-after': '3600' }), 'retry', 300_000, /Retry-After/],
  [11, '429 Retry-After 0 raised to 1 s', status(429, { 'retry-after': '0' }), 'retry', MIN_RATE_LIMIT_DELAY_MS, /Retry-After/],
  [12, '429 Retry-After HTTP date', status(429, { 'retry-after': 'Sat, 01 Jun 2024 12:00:30 GMT' }), 'retry', 30_000, /Retry-After/],
  [
    13,
    '429 Retry-After date in the past',
    status(429, { 'retry-after': 'Sat, 01 Jun 2024 11:00:00 GMT' }),
    'retry',
    MIN_RATE_LIMIT_DELAY_MS,
    /Retry-After/,
  ],
  [14, '429 header name in other case', status(429, { 'Retry-After': '9' }), 'retry', 9_000, /Retry-After/],
  [15, '429 header as array', status(429, { 'retry-after': ['4', '8'] }), 'retry', 4_000, /Retry-After/],
  [16, '429 X-RateLimit-Reset seconds to wait', status(429, { 'x-ratelimit-reset': '12' }), 'retry', 12_000, /X-RateLimit-Reset/],
  [17, '429 X-RateLimit-Reset epoch seconds', status(429, { 'x-ratelimit-reset': String(nowSeconds + 20) }), 'retry', 20_000, /X-RateLimit-Reset/],
  [
    18,
    '429 X-RateLimit-Reset epoch ms (analytics-node 2.x reading)',
    status(429, { 'x-ratelimit-reset': String(now.getTime() + 45_000) }),
    'retry',
    45_000,
    /X-RateLimit-Reset/,
  ],
  [
    19,
    '429 X-RateLimit-Reset epoch far away is capped',
    status(429, { 'x-ratelimit-reset': String(nowSeconds + 86_400) }),
    'retry',
    300_000,
    /X-RateLimit-Reset/,
  ],
  [
    20,
    '429 X-RateLimit-Reset in the past',
    status(429, { 'x-ratelimit-reset': String(nowSeconds - 5) }),
    'retry',
    MIN_RATE_LIMIT_DELAY_MS,
    /X-RateLimit-Reset/,
  ],
  [21, '429 Retry-After wins over X-RateLimit-Reset', status(429, { 'retry-after': '3', 'x-ratelimit-reset': '50' }), 'retry', 3_000, /Retry-After/],
  [
    22,
    '429 unusable Retry-After falls back to X-RateLimit-Reset',
    status(429, { 'retry-after': 'soon', 'x-ratelimit-reset': '5' }),
    'retry',
    5_000,
    /X-RateLimit-Reset/,
  ],
  [23, '429 without headers -> backoff', status(429), 'retry', undefined, /without a usable Retry-After/],
  [24, '429 negative Retry-After ignored', status(429, { 'retry-after': '-5' }), 'retry', undefined, /backing off/],
  [25, '408', status(408), 'retry', undefined, /408/],
  [26, '410', status(410), 'retry', undefined, /410/],
  [27, '460', status(460), 'retry', undefined, /460/],
  [28, '500', status(500), 'retry', undefined, /500/],
  [29, '502', status(502), 'retry', undefined, /502/],
  [30, '503', status(503), 'retry', undefined, /503/],
  [31, '504', status(504), 'retry', undefined, /504/],
  [32, '599', status(599), 'retry', undefined, /599/],
  [33, '501 never retried', status(501), 'fatal', undefined, /501/],
  [34, '505 never retried', status(505), 'fatal', undefined, /505/],
  [35, '511 (no OAuth in segflow)', status(511), 'fatal', undefined, /proxy/],
  [36, '401 bad write key', status(401), 'fatal', undefined, /write key.*SEGMENT_WRITE_KEY.*EU/],
  [37, '403 bad write key or region', status(403), 'fatal', undefined, /write key.*EU host/],
  [38, '404 wrong URL', status(404), 'fatal', undefined, /SEGMENT_TRACKING_URL/],
  [39, '405', status(405), 'fatal', undefined, /405/],
  [40, '422', status(422), 'fatal', undefined, /422/],
  [41, '100 unexpected', status(100), 'fatal', undefined, /unexpected HTTP status 100/],
  [42, '600 unexpected', status(600), 'fatal', undefined, /unexpected/],
  [43, 'network error', { networkError: 'ECONNRESET' }, 'retry', undefined, /network error: ECONNRESET/],
  [44, 'timeout', { networkError: 'request timed out after 10000 ms' }, 'retry', undefined, /timed out/],
];

describe('classifyTrackingResponse', () => {
  it.each(table)('#%i %s', (_n, _label, outcome, action, delayMs, reason) => {
    const decision = classifyTrackingResponse(outcome, now);
    expect(decision.action).toBe(action);
    if (decision.action === 'retry') expect(decision.delayMs).toBe(delayMs);
    if (decision.action !== 'success') expect(decision.reason).toMatch(reason ?? /./);
  });

  it('never returns a delay outside 1..300 s', () => {
    for (const value of ['0', '0.001', '1', '299', '300', '301', '99999999', String(nowSeconds), String(now.getTime())]) {
      for (const header of ['retry-after', 'x-ratelimit-reset']) {
        const decision = classifyTrackingResponse(status(429, { [header]: value }), now);
        if (decision.action !== 'retry' || decision.delayMs === undefined) throw new Error(`no delay for ${header}=${value}`);
        expect(decision.delayMs).toBeGreaterThanOrEqual(MIN_RATE_LIMIT_DELAY_MS);
        // A literal: a test comparing with the product's own constant would pass whatever the constant became.
        expect(decision.delayMs).toBeLessThanOrEqual(300_000);
      }
    }
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['5', 5_000],
    [' 5 ', 5_000],
    ['0', 0],
    ['1.25', 1_250],
    ['Sat, 01 Jun 2024 12:01:00 GMT', 60_000],
    ['Sat, 01 Jun 2024 11:59:00 GMT', 0],
    ['', undefined],
    ['   ', undefined],
    ['soon', undefined],
    ['-3', undefined],
    [undefined, undefined],
  ])('%j -> %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('parseRateLimitReset', () => {
  it.each([
    ['30', 30_000],
    ['999999999', 999_999_999_000],
    [String(nowSeconds + 60), 60_000],
    [String(now.getTime() + 60_000), 60_000],
    [String(nowSeconds - 60), 0],
    ['abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j -> %j ms', (value, expected) => {
    expect(parseRateLimitReset(value, now)).toBe(expected);
  });
});

describe('backoffDelayMs (analytics-node: min(r x 500 ms x 2^n, 60 s), r in [1, 2))', () => {
  it.each([
    [1, 0, 1_000],
    [1, 0.999, 1_999],
    [2, 0, 2_000],
    [3, 0.5, 6_000],
    [6, 0, 32_000],
    [7, 0, 60_000],
    [10, 0.5, 60_000],
  ])('attempt %i, random %d -> %i ms', (attempt, random, expected) => {
    expect(backoffDelayMs(attempt, () => random)).toBeCloseTo(expected, 6);
  });

  it('uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelayMs(1);
      expect(delay).toBeGreaterThanOrEqual(1_000);
      expect(delay).toBeLessThan(2_000);
    }
  });
});
