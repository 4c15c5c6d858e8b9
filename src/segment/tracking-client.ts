/**
 * The one Tracking API sender. Every path that delivers events (the import's chunk activity, the workspace
 * job's `send` step, `segflow send`) goes through TrackingClient.send: it renders the body with a fresh
 * `sentAt`, posts it, classifies the answer with retry-policy.ts (one table, one rate-limit parser), halves a
 * batch Segment refuses as a whole (400/413) until the offending events are isolated, and honours Retry-After.
 * Whether a retry happens in this process or as a new Temporal attempt is the caller's choice (`retries`).
 */
import { Agent, request } from 'undici';
import { EventList, type OutgoingBatch } from '../core/batch-builder';
import { backoffDelayMs, classifyTrackingResponse, type TrackingOutcome as ClassifiedOutcome } from '../core/retry-policy';

/** What retry-policy classifies, plus the start of the response body for error messages. */
export type TrackingOutcome = ClassifiedOutcome & { body?: string };

export interface TrackingClientOptions {
  /** API root, e.g. https://api.segment.io; `/v1/batch` is appended. Checked by config.ts's trackingApiRoot. */
  apiRoot: string;
  writeKey: string;
  requestTimeoutMs?: number;
  userAgent?: string;
}

/** One event as it goes on the wire: its JSON text, already serialized (its size was checked then). */
export interface OutgoingEvent {
  serialized: string;
}

export interface SendOptions<E> {
  signal?: AbortSignal;
  /** Attempts already made for these events (sent as X-Retry-Count, as analytics-node does). */
  retryCount?: number;
  /**
   * Retryable answers retried here, waiting as Segment asked (else analytics-node's backoff). 0 (the default)
   * throws TrackingRetryableError at once, for callers whose retries are Temporal's.
   */
  retries?: number;
  /** Before every POST, e.g. the import's rate cap. */
  beforePost?: (batch: OutgoingBatch<E>) => Promise<void>;
  /** A batch Segment acknowledged (2xx). */
  onAccepted?: (batch: OutgoingBatch<E>) => void | Promise<void>;
  /** An event Segment refused on its own (a 400/413 for a batch of one): it will never be accepted. */
  onRefused?: (event: E, reason: string) => void | Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  /** Every answer (or network error), e.g. for the worker's metrics (src/activities/metrics.ts). */
  onResponse?: (outcome: { status?: number; networkError?: string }) => void;
}

export interface SendResult {
  accepted: number;
  refused: number;
  batches: number;
}

/** Segment will accept these events later, perhaps: retry after `delayMs` when given. */
export class TrackingRetryableError extends Error {
  override readonly name = 'TrackingRetryableError';
  constructor(
    readonly reason: string,
    readonly delayMs: number | undefined,
  ) {
    super(`Segment batch not accepted, will retry: ${reason}`);
  }
}

/** Retrying can never help (a bad write key, a redirect, a wrong URL). */
export class TrackingFatalError extends Error {
  override readonly name = 'TrackingFatalError';
  constructor(readonly reason: string) {
    super(`Segment refused the batch: ${reason}`);
  }
}

// One keep-alive pool per process, shared by every chunk activity: connection setup dominates small
// requests otherwise, and Segment asks clients not to pin IPs, so pools are recycled rather than held forever.
const sharedAgent = new Agent({ connections: 32, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });

const defaultSleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export class TrackingClient {
  private readonly batchUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(options: TrackingClientOptions) {
    this.batchUrl = `${options.apiRoot.replace(/\/+$/, '')}/v1/batch`;
    // Basic auth: write key as user name, empty password; the trailing colon matters (docs/segment-tracking-api.md,
    // "Authentication").
    this.authorization = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'segflow/0.1';
  }

  /**
   * Delivers `events` (at most one batch's worth): a list of serialized events, or a batch that renders its own body
   * (the import's BatchBuffer, src/core/batch-builder.ts); see the file comment.
   */
  async send<E>(events: readonly (E & OutgoingEvent)[] | OutgoingBatch<E>, options: SendOptions<E> = {}): Promise<SendResult> {
    const result: SendResult = { accepted: 0, refused: 0, batches: 0 };
    let retryCount = options.retryCount ?? 0;
    let retriesLeft = options.retries ?? 0;
    const sleep = options.sleep ?? defaultSleep;

    const deliver = async (batch: OutgoingBatch<E>): Promise<void> => {
      for (;;) {
        await options.beforePost?.(batch);
        // sentAt is the real send time of *this* post: a stale one would shift every event's time
        // (docs/segment-tracking-api.md, "Timestamps and sentAt").
        const body = batch.renderBody(new Date().toISOString());
        const outcome = await this.post(body, options.signal, retryCount);
        options.onResponse?.(outcome);
        const decision = classifyTrackingResponse(outcome);
        // Error bodies are opaque text (docs/segment-tracking-api.md, "Responses and errors"), but often say what is
        // wrong: keep the start of it.
        const said =
          'body' in outcome && outcome.body && decision.action !== 'success' ? ` (Segment said: ${outcome.body.trim().slice(0, 200)})` : '';
        switch (decision.action) {
          case 'success':
            result.accepted += batch.length;
            result.batches += 1;
            await options.onAccepted?.(batch);
            return;
          case 'split': {
            if (batch.length === 1) {
              result.refused += 1;
              await options.onRefused?.(batch.event(0), `Segment refused this event: ${decision.reason}${said}`);
              return;
            }
            const [first, second] = batch.halves();
            await deliver(first);
            await deliver(second);
            return;
          }
          case 'retry':
            retryCount += 1;
            if (retriesLeft <= 0) throw new TrackingRetryableError(`${decision.reason}${said}`, decision.delayMs);
            retriesLeft -= 1;
            await sleep(decision.delayMs ?? backoffDelayMs(retryCount));
            continue;
          case 'fatal':
            throw new TrackingFatalError(`${decision.reason}${said}`);
        }
      }
    };

    const batch = Array.isArray(events) ? new EventList(events as readonly (E & OutgoingEvent)[]) : (events as OutgoingBatch<E>);
    if (batch.length > 0) await deliver(batch);
    return result;
  }

  /** One POST; reports what happened (status + headers, or a network error) for retry-policy to judge. */
  private async post(body: string | Uint8Array, signal: AbortSignal | undefined, retryCount: number): Promise<TrackingOutcome> {
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
      // Always drain the body so the keep-alive connection can be reused.
      const text = await response.body.text();
      return { status: response.statusCode, headers: response.headers, body: text.slice(0, 500) };
    } catch (error) {
      if (signal?.aborted) throw error;
      const err = error as { code?: string; message?: string };
      return { networkError: `${err.code ?? 'network error'}: ${err.message ?? String(error)}` };
    }
  }
}
