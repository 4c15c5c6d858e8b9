/**
 * How activities hand a Public API failure to Temporal: the retry decision made in public-api-errors.ts becomes the
 * ApplicationFailure's `nonRetryable` and `nextRetryDelay`, so Temporal's retries wait what Segment asked for.
 */
import { ApplicationFailure } from '@temporalio/common';
import { PublicApiError, PublicApiRateLimitError } from './public-api-errors';

/**
 * For activities: a PublicApiError becomes an ApplicationFailure whose `type` is the error class name;
 * non-retryable for 4xx, retryable for 429 (with `nextRetryDelay` = the wait Segment asked for) and 5xx/network.
 * Anything else is returned unchanged (cancellation must stay a cancellation).
 */
export function toApplicationFailure(error: unknown): unknown {
  if (!(error instanceof PublicApiError)) return error;
  return ApplicationFailure.create({
    message: error.message,
    type: error.name,
    nonRetryable: !error.retryable,
    nextRetryDelay: error instanceof PublicApiRateLimitError ? error.retryAfterMs : undefined,
    details: [{ kind: error.kind, status: error.status ?? null, path: error.details.path }],
  });
}
