/**
 * Exact byte accounting for one /v1/batch request body.
 *
 * Segment answers 400 for a whole batch over 500 KB and for any event over 32 KB, and silently drops
 * events beyond 2,500 per batch (docs/segment-tracking-api.md, "Limits"). analytics-node's own size guard is broken
 * (same section), so the body is predicted byte for byte here instead: the body sent is exactly
 *
 *   {"batch":[<e1>,<e2>,...],"sentAt":"<24-char ISO>"}
 *
 * with the events already serialized. The write key travels in the Basic auth header, not the body,
 * and sentAt is filled in fresh on every attempt (a stale sentAt shifts timestamps: docs/segment-tracking-api.md,
 * "Timestamps and sentAt"); its length is fixed at 24 characters (toISOString() for years 1970-9999), so the size does not depend
 * on when the batch is sent.
 *
 * Pure: no I/O, safe anywhere.
 */

const BODY_PREFIX = '{"batch":[';
const BODY_INFIX = '],"sentAt":"';
const BODY_SUFFIX = '"}';
export const SENT_AT_LENGTH = 24;

/** Bytes of a body holding no events (all ASCII, so characters = bytes). */
export const EMPTY_BATCH_BODY_BYTES = BODY_PREFIX.length + BODY_INFIX.length + SENT_AT_LENGTH + BODY_SUFFIX.length;

export interface BatchLimits {
  /** Upper bound for the whole request body in bytes. */
  maxBatchBytes: number;
  /** Upper bound for events per request. */
  maxEventsPerBatch: number;
}

/** True when a serialized event is over the per-event limit and must be rejected rather than batched. */
export function eventTooLarge(eventBytes: number, maxEventBytes: number): boolean {
  return eventBytes > maxEventBytes;
}

/** Predicted body size for events totalling `eventBytes` bytes. */
export function batchBodyBytes(eventCount: number, eventBytes: number): number {
  const commas = eventCount > 0 ? eventCount - 1 : 0;
  return EMPTY_BATCH_BODY_BYTES + eventBytes + commas;
}

/** The request body; its UTF-8 length equals batchBodyBytes() for the same events. */
export function renderBatchBody(events: readonly string[], sentAt: string): string {
  if (sentAt.length !== SENT_AT_LENGTH) {
    throw new RangeError(`sentAt must be a ${SENT_AT_LENGTH}-character ISO timestamp (Date.toISOString()), got "${sentAt}"`);
  }
  return `${BODY_PREFIX}${events.join(',')}${BODY_INFIX}${sentAt}${BODY_SUFFIX}`;
}

/** Collects serialized events until the next one would break a limit. */
export class BatchBuilder {
  private events: string[] = [];
  private eventBytes = 0;

  constructor(private readonly limits: BatchLimits) {
    if (limits.maxEventsPerBatch < 1) throw new RangeError('maxEventsPerBatch must be at least 1');
    if (limits.maxBatchBytes <= EMPTY_BATCH_BODY_BYTES) {
      throw new RangeError(`maxBatchBytes must be above ${EMPTY_BATCH_BODY_BYTES}, the size of an empty batch body`);
    }
  }

  /**
   * Adds the event if the batch stays within both limits; false means "full: flush, then add again".
   * `eventBytes` must be Buffer.byteLength(serializedEvent) (the caller has it already from its size check).
   * False on an *empty* builder means the event can never fit: callers reject such events with
   * eventTooLarge() first, and treat a second false after a flush as a configuration error.
   */
  tryAdd(serializedEvent: string, eventBytes: number): boolean {
    if (this.events.length >= this.limits.maxEventsPerBatch) return false;
    if (batchBodyBytes(this.events.length + 1, this.eventBytes + eventBytes) > this.limits.maxBatchBytes) return false;
    this.events.push(serializedEvent);
    this.eventBytes += eventBytes;
    return true;
  }

  /** Number of events in the batch. */
  get size(): number {
    return this.events.length;
  }

  /** Exact byte size of the body renderBatchBody() would produce for the current events. */
  get bytes(): number {
    return batchBodyBytes(this.events.length, this.eventBytes);
  }

  /** Hands over the events and starts an empty batch. */
  takeEvents(): string[] {
    const events = this.events;
    this.events = [];
    this.eventBytes = 0;
    return events;
  }
}
