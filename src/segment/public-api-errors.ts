/**
 * What a failed Public API call means, decided once: 401/403 auth, 404 not found, 400/422 validation, 429 rate
 * limited with the wait the answer asks for, 5xx and network retryable, other 4xx request errors. No I/O and the
 * clock passed in, so the status table is tested on its own (test/unit/public-api-client.test.ts).
 */
import { rateLimitDelayMs } from '../core/retry-policy';
import { FailureType } from '../contracts/failures';

/** One entry of the `{errors: [...]}` envelope (docs/segment-public-api.md). */
export interface ApiErrorEntry {
  type: string;
  message?: string;
  field?: string;
  data?: unknown;
  status?: number;
}

export type PublicApiErrorKind = 'auth' | 'not-found' | 'validation' | 'rate-limited' | 'server' | 'request' | 'network';

export class PublicApiError extends Error {
  constructor(
    readonly kind: PublicApiErrorKind,
    message: string,
    readonly details: {
      method: string;
      /** The request path, with secrets redacted. */
      path: string;
      status?: number;
      apiErrors?: ApiErrorEntry[];
      /** How long to wait before retrying (429 only). */
      retryAfterMs?: number;
    },
  ) {
    super(message);
    this.name = FailureType.PublicApiError;
  }

  get status(): number | undefined {
    return this.details.status;
  }

  /** 429, 5xx and network errors are worth retrying; other 4xx will fail the same way again. */
  get retryable(): boolean {
    return this.kind === 'rate-limited' || this.kind === 'server' || this.kind === 'network';
  }
}

export class PublicApiAuthError extends PublicApiError {
  override readonly name = FailureType.PublicApiAuthError;
}
export class PublicApiNotFoundError extends PublicApiError {
  override readonly name = FailureType.PublicApiNotFoundError;
}
export class PublicApiValidationError extends PublicApiError {
  override readonly name = FailureType.PublicApiValidationError;
}
export class PublicApiRateLimitError extends PublicApiError {
  override readonly name = FailureType.PublicApiRateLimitError;
  get retryAfterMs(): number {
    return this.details.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS;
  }
}
export class PublicApiServerError extends PublicApiError {
  override readonly name = FailureType.PublicApiServerError;
}
export class PublicApiRequestError extends PublicApiError {
  override readonly name = FailureType.PublicApiRequestError;
}
export class PublicApiNetworkError extends PublicApiError {
  override readonly name = FailureType.PublicApiNetworkError;
}

/** When a 429 says nothing usable about the wait: the rate-limit window is a minute (docs/segment-public-api.md). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
type Headers = Record<string, string | string[] | undefined>;

/**
 * How long a 429 asks us to wait, in ms: the body's `data.msBeforeNext` (the documented 429 body,
 * docs/segment-public-api.md), else the headers, read by the one rate-limit parser the Tracking API sender uses too
 * (src/core/retry-policy.ts); one rate-limit window when nothing usable was said.
 */
export function rateLimitWaitMs(apiErrors: ApiErrorEntry[], headers: Headers, nowMs: number): number {
  let msBeforeNext: number | undefined;
  for (const entry of apiErrors) {
    const data = entry.data as { msBeforeNext?: unknown } | undefined;
    if (typeof data?.msBeforeNext === 'number' && Number.isFinite(data.msBeforeNext)) {
      msBeforeNext = data.msBeforeNext;
      break;
    }
  }
  return rateLimitDelayMs({ headers, msBeforeNext }, new Date(nowMs)) ?? DEFAULT_RATE_LIMIT_WAIT_MS;
}

/** Reads `{errors: [...]}` from an error body; anything else becomes one synthetic entry holding the text. */
export function parseErrorEntries(bodyText: string): ApiErrorEntry[] {
  try {
    const parsed = JSON.parse(bodyText) as { errors?: unknown };
    if (Array.isArray(parsed.errors)) {
      return parsed.errors.filter(
        (entry): entry is ApiErrorEntry => typeof entry === 'object' && entry !== null && typeof (entry as ApiErrorEntry).type === 'string',
      );
    }
  } catch {
    // fall through: error bodies are not guaranteed to be JSON
  }
  const text = bodyText.trim().slice(0, 200);
  return text ? [{ type: 'unparsed', message: text }] : [];
}

/** The typed error for a non-2xx answer. Pure, so the status table is testable on its own. */
export function classifyFailure(
  status: number,
  headers: Headers,
  bodyText: string,
  request: { method: string; path: string },
  nowMs: number,
): PublicApiError {
  const apiErrors = parseErrorEntries(bodyText);
  const reasons = apiErrors.map((entry) => [entry.field ? `${entry.field}: ` : '', entry.message ?? entry.type].join('')).join('; ');
  const base = `Segment Public API ${request.method} ${request.path} answered ${status}`;
  const details = { ...request, status, apiErrors };
  const withReason = (hint: string) => `${base}${reasons ? ` (${reasons})` : ''}: ${hint}`;
  if (status === 401 || status === 403) {
    return new PublicApiAuthError('auth', withReason('check SEGMENT_API_TOKEN, its workspace and its permissions'), details);
  }
  if (status === 404) return new PublicApiNotFoundError('not-found', withReason('no such resource (or route in this API version)'), details);
  if (status === 400 || status === 422) return new PublicApiValidationError('validation', withReason('the request was refused as invalid'), details);
  if (status === 429) {
    const retryAfterMs = rateLimitWaitMs(apiErrors, headers, nowMs);
    return new PublicApiRateLimitError('rate-limited', withReason(`rate limited, retry in ${Math.ceil(retryAfterMs / 1000)} s`), {
      ...details,
      retryAfterMs,
    });
  }
  if (status >= 500) return new PublicApiServerError('server', withReason('Segment-side failure, retryable'), details);
  return new PublicApiRequestError('request', withReason('request refused'), details);
}
