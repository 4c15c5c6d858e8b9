/**
 * What to do with one Tracking API outcome, decided once, as data (docs/segment-tracking-api.md, "Responses and
 * errors", "Rate limits" and "What analytics-node does").
 *
 * Follows analytics-node 3.x where it is sound, and departs where an importer knows better:
 * - 400 and 413 mean "this payload is bad" (too big, or invalid JSON). Retrying the same bytes can never
 *   succeed, so the caller halves the batch to isolate the offending events instead (analytics-node
 *   simply drops the batch, which would lose good events with the bad one).
 * - Only 2xx is delivery. analytics-node counts 3xx as success, but undici's `request` does not follow
 *   redirects, so a 3xx means the batch went nowhere: fatal, naming SEGMENT_TRACKING_URL and the Location.
 * - 429 waits as rateLimitDelayMs says: the one reading of rate-limit headers, shared with the Public API
 *   client (src/segment/public-api-errors.ts). Without any usable header no delay is given and the
 *   caller's exponential backoff applies.
 * - 501, 505 are never retried (analytics-node); 511 is retried by analytics-node only with OAuth, which
 *   segflow does not use, so it is fatal.
 * - Other 4xx (401, 403, 404, ...) are configuration errors: retrying only burns time, so they are fatal
 *   with a reason that names the likely cause.
 *
 * Pure: no I/O, safe anywhere (`now` is injected).
 */
import { redactUrl } from '../shared/location';

export type TrackingOutcome = { status: number; headers: Record<string, string | string[] | undefined> } | { networkError: string };

export type RetryDecision =
  | { action: 'success' }
  | { action: 'retry'; delayMs?: number; reason: string }
  | { action: 'split'; reason: string }
  | { action: 'fatal'; reason: string };

export const MIN_RATE_LIMIT_DELAY_MS = 1_000;
export const MAX_RATE_LIMIT_DELAY_MS = 300_000;

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 60_000;

/** Below this, X-RateLimit-Reset is read as seconds to wait; it is 2001-09-09 as epoch seconds. */
const EPOCH_SECONDS_THRESHOLD = 1e9;
/** From this on, X-RateLimit-Reset is read as epoch milliseconds; it is year 33658 as epoch seconds. */
const EPOCH_MILLIS_THRESHOLD = 1e12;

const NUMBER = /^\s*\d{1,20}(\.\d{1,20})?\s*$/;
/** Header values longer than this are not rate-limit values; refusing them keeps parsing trivially cheap. */
const MAX_HEADER_LENGTH = 100;

/**
 * Retry-After (RFC 9110): delay-seconds or an HTTP date. Returns the wait in ms (0 when the date has
 * passed), or undefined when the value is unusable.
 */
export function parseRetryAfter(value: string | undefined, now: Date = new Date()): number | undefined {
  if (value === undefined || value.trim() === '' || value.length > MAX_HEADER_LENGTH) return undefined;
  if (NUMBER.test(value)) return Math.round(Number(value) * 1000);
  return parseHttpDate(value, now);
}

/**
 * X-RateLimit-Reset in every reading seen: seconds to wait (small numbers; the Tracking API docs), epoch
 * seconds, epoch milliseconds (analytics-node 2.x), or an RFC 5322 date (docs/segment-public-api.md, "Rate limits").
 * Returns the wait in ms (0 when the moment has passed), or undefined.
 */
export function parseRateLimitReset(value: string | undefined, now: Date = new Date()): number | undefined {
  if (value === undefined || value.length > MAX_HEADER_LENGTH) return undefined;
  if (!NUMBER.test(value)) return parseHttpDate(value, now);
  const n = Number(value);
  if (n < EPOCH_SECONDS_THRESHOLD) return Math.round(n * 1000);
  const atMs = n < EPOCH_MILLIS_THRESHOLD ? n * 1000 : n;
  return Math.max(0, Math.round(atMs - now.getTime()));
}

function parseHttpDate(value: string, now: Date): number | undefined {
  // An HTTP date always names its day, month and GMT; V8's lenient Date.parse would read "-5" as a year.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  // Node lower-cases incoming header names, but fakes and other clients may not.
  let value = headers[name];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  return Array.isArray(value) ? value[0] : value;
}

export function clampRateLimitDelay(ms: number): number {
  return Math.min(MAX_RATE_LIMIT_DELAY_MS, Math.max(MIN_RATE_LIMIT_DELAY_MS, Math.ceil(ms)));
}

export interface RateLimitSignals {
  headers: Headers;
  /** The Public API's 429 body says the wait exactly (docs/segment-public-api.md, "Rate limits"). */
  msBeforeNext?: number;
}

/**
 * The one reading of a rate-limited answer, for the Tracking and the Public API alike: the body's exact
 * wait, else Retry-After, else X-RateLimit-Reset; clamped to 1..300 s (analytics-node and analytics-python
 * cap Retry-After at 300 s). Undefined when nothing usable was said.
 */
export function rateLimitDelayMs(signals: RateLimitSignals, now: Date = new Date()): number | undefined {
  return rateLimitWait(signals, now)?.delayMs;
}

function rateLimitWait(signals: RateLimitSignals, now: Date): { delayMs: number; source: string } | undefined {
  if (signals.msBeforeNext !== undefined && Number.isFinite(signals.msBeforeNext)) {
    return { delayMs: clampRateLimitDelay(signals.msBeforeNext), source: 'msBeforeNext' };
  }
  const retryAfter = parseRetryAfter(header(signals.headers, 'retry-after'), now);
  if (retryAfter !== undefined) return { delayMs: clampRateLimitDelay(retryAfter), source: 'Retry-After' };
  const reset = parseRateLimitReset(header(signals.headers, 'x-ratelimit-reset'), now);
  if (reset !== undefined) return { delayMs: clampRateLimitDelay(reset), source: 'X-RateLimit-Reset' };
  return undefined;
}

function rateLimited(headers: Headers, now: Date): RetryDecision {
  const wait = rateLimitWait({ headers }, now);
  if (wait) return { action: 'retry', delayMs: wait.delayMs, reason: `rate limited by Segment (429, ${wait.source})` };
  return { action: 'retry', reason: 'rate limited by Segment (429) without a usable Retry-After; backing off' };
}

/** Where a redirect pointed, without credentials: the Location is shown in failures. */
function redirectTarget(headers: Headers): string {
  const location = header(headers, 'location');
  if (!location) return 'no Location given';
  return redactUrl(location).slice(0, 200);
}

/** Classifies one HTTP response or network failure of POST /v1/batch. */
export function classifyTrackingResponse(outcome: TrackingOutcome, now: Date = new Date()): RetryDecision {
  if ('networkError' in outcome) {
    return { action: 'retry', reason: `network error: ${outcome.networkError}` };
  }
  const { status, headers } = outcome;
  if (status >= 200 && status < 300) return { action: 'success' };
  if (status >= 300 && status < 400) {
    return {
      action: 'fatal',
      reason:
        `SEGMENT_TRACKING_URL answered ${status}, a redirect to ${redirectTarget(headers)}: nothing was delivered ` +
        '(only a 2xx is delivery, and redirects are not followed); set SEGMENT_TRACKING_URL to the https API root it should be',
    };
  }
  switch (status) {
    case 400:
      return { action: 'split', reason: 'Segment rejected the batch (400): an event is invalid or too large; splitting to isolate it' };
    case 413:
      return { action: 'split', reason: 'Segment rejected the batch as too large (413); splitting it' };
    case 429:
      return rateLimited(headers, now);
    case 408:
    case 410:
    case 460:
      return { action: 'retry', reason: `transient HTTP ${status} from Segment` };
    case 401:
    case 403:
      return {
        action: 'fatal',
        reason: `Segment refused the write key (${status}): check SEGMENT_WRITE_KEY, and that an EU workspace's key is sent to the EU host (SEGMENT_TRACKING_URL)`,
      };
    case 404:
      return {
        action: 'fatal',
        reason: 'Segment answered 404: SEGMENT_TRACKING_URL is probably wrong (it must be the API root, e.g. https://api.segment.io)',
      };
    case 501:
    case 505:
      return { action: 'fatal', reason: `Segment answered ${status}, which never succeeds on retry` };
    case 511:
      return { action: 'fatal', reason: 'HTTP 511 (network authentication required): a proxy between segflow and Segment wants a login' };
  }
  if (status >= 500 && status < 600) return { action: 'retry', reason: `Segment server error ${status}` };
  if (status >= 400 && status < 500) return { action: 'fatal', reason: `Segment rejected the request with HTTP ${status}; not retrying` };
  return { action: 'fatal', reason: `unexpected HTTP status ${status} from Segment` };
}

/**
 * analytics-node's backoff: min(r × 500 ms × 2^attempt, 60 s), r uniform in [1, 2).
 * `attempt` is the retry number starting at 1, so the first retry waits 1-2 s.
 */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  return Math.min((1 + random()) * BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_CAP_MS);
}
