/**
 * The one place that talks HTTP to Segment's Tracking API. It reports what happened (status + headers, or a
 * network error); deciding what that *means* is retry-policy.ts's job, so the rules live in one table.
 */
import { Agent, request } from 'undici';
import type { TrackingOutcome as ClassifiedOutcome } from '../core/retry-policy';

/** What retry-policy classifies, plus the start of the response body for error messages. */
export type TrackingOutcome = ClassifiedOutcome & { body?: string };

export interface TrackingClientOptions {
  /** API root, e.g. https://api.segment.io; `/v1/batch` is appended. */
  apiRoot: string;
  writeKey: string;
  requestTimeoutMs?: number;
  userAgent?: string;
}

// One keep-alive pool per worker process, shared by every chunk activity: connection setup dominates small
// requests otherwise, and Segment asks clients not to pin IPs, so pools are recycled rather than held forever.
const sharedAgent = new Agent({ connections: 32, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });

export class TrackingClient {
  private readonly batchUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(options: TrackingClientOptions) {
    this.batchUrl = `${options.apiRoot.replace(/\/+$/, '')}/v1/batch`;
    // Basic auth: write key as user name, empty password; the trailing colon matters (API.md §1.2).
    this.authorization = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'segflow/0.1';
  }

  async postBatch(body: string, signal?: AbortSignal, retryCount = 0): Promise<TrackingOutcome> {
    try {
      const response = await request(this.batchUrl, {
        method: 'POST',
        dispatcher: sharedAgent,
        headers: {
          'content-type': 'application/json',
          authorization: this.authorization,
          'user-agent': this.userAgent,
          ...(retryCount > 0 ? { 'x-retry-count': String(retryCount) } : {}),
        },
        body,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      // Always drain the body so the keep-alive connection can be reused; error bodies are opaque text (API.md §1.5).
      const text = await response.body.text();
      return { status: response.statusCode, headers: response.headers, body: text.slice(0, 500) };
    } catch (error) {
      if (signal?.aborted) throw error;
      const err = error as { code?: string; message?: string };
      return { networkError: `${err.code ?? 'network error'}: ${err.message ?? String(error)}` };
    }
  }
}
