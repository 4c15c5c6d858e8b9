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
 * No I/O; uses Buffer, so Node-side only (not workflow code).
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

/**
 * A batch TrackingClient.send (src/segment/tracking-client.ts) can deliver: it renders its own body and halves itself,
 * so the sender's rules (fresh sentAt, halving on 400/413, retries) stay in one place whatever holds the events.
 */
export interface OutgoingBatch<E> {
  readonly length: number;
  /** The exact request body for this sentAt (24 characters, Date.toISOString()). */
  renderBody(sentAt: string): string | Uint8Array;
  /** The first and the second half (a batch of two or more), to isolate an event Segment refuses. */
  halves(): [OutgoingBatch<E>, OutgoingBatch<E>];
  /** Event `index` (0-based), e.g. the one event of a refused batch of one. */
  event(index: number): E;
}

/** Events already serialized one by one, e.g. a workspace job's `send` step or `segflow send`. */
export class EventList<E extends { serialized: string }> implements OutgoingBatch<E> {
  constructor(readonly events: readonly E[]) {}

  get length(): number {
    return this.events.length;
  }

  renderBody(sentAt: string): string {
    return renderBatchBody(
      this.events.map((e) => e.serialized),
      sentAt,
    );
  }

  halves(): [EventList<E>, EventList<E>] {
    const middle = Math.ceil(this.events.length / 2);
    return [new EventList(this.events.slice(0, middle)), new EventList(this.events.slice(middle))];
  }

  event(index: number): E {
    const event = this.events[index];
    if (event === undefined) throw new RangeError(`no event ${index} in a batch of ${this.events.length}`);
    return event;
  }
}

/** One event of a BatchBuffer, as a refusal reports it: the source line and the row's own text. */
export interface BufferedEvent {
  line: number;
  raw: string;
}

const BODY_PREFIX_BYTES = Buffer.from(BODY_PREFIX);
/** `],"sentAt":"<24 characters>"}` */
const BODY_TAIL_BYTES = BODY_INFIX.length + SENT_AT_LENGTH + BODY_SUFFIX.length;
const COMMA = 0x2c;

/**
 * The import's batch, kept outside the JavaScript heap: the events' JSON is written as UTF-8 straight into one request
 * body that is reused for every batch of a chunk, and each event's source line and row text (for a refusal's reject
 * report) into typed arrays and a second reused buffer. A batch lives until Segment answers, long enough for the
 * garbage collector to move strings and objects kept for it into the old generation, which then grows until a full
 * collection; written here, a row's strings die young and the worker's memory stays flat (docs/footprint.md).
 * The body is sent as it is (no join, no copy); only a halved batch, after a 400, copies its part.
 */
export class BatchBuffer {
  private readonly body: Buffer;
  private end = BODY_PREFIX_BYTES.length;
  private count = 0;
  private eventBytes = 0;
  /** Where each event's JSON starts in `body`. */
  private readonly starts: Float64Array;
  private readonly lines: Float64Array;
  private raw: Buffer;
  /** Where each event's row text ends in `raw` (it starts where the previous one ends). */
  private readonly rawEnds: Float64Array;

  constructor(private readonly limits: BatchLimits) {
    if (limits.maxEventsPerBatch < 1) throw new RangeError('maxEventsPerBatch must be at least 1');
    if (limits.maxBatchBytes <= EMPTY_BATCH_BODY_BYTES) {
      throw new RangeError(`maxBatchBytes must be above ${EMPTY_BATCH_BODY_BYTES}, the size of an empty batch body`);
    }
    // Exactly the largest body: tryAdd writes an event only where it is sure to fit (see there).
    this.body = Buffer.allocUnsafe(limits.maxBatchBytes);
    BODY_PREFIX_BYTES.copy(this.body, 0);
    this.starts = new Float64Array(limits.maxEventsPerBatch);
    this.lines = new Float64Array(limits.maxEventsPerBatch);
    this.rawEnds = new Float64Array(limits.maxEventsPerBatch);
    this.raw = Buffer.allocUnsafe(64 * 1024);
  }

  /**
   * Adds the event if the batch stays within both limits; false means "full: send, clear(), then add again" (on an
   * empty buffer: the event can never fit). The event's UTF-8 bytes are counted as they are written.
   */
  tryAdd(serialized: string, line: number, raw: string): boolean {
    const index = this.count;
    if (index >= this.limits.maxEventsPerBatch) return false;
    const start = index > 0 ? this.end + 1 : this.end;
    let eventBytes: number;
    // A UTF-16 code unit takes at most 3 UTF-8 bytes: while that much room is left (all but the last few events of a
    // batch), the event is written first and its length is what the write returns; the body's closing text always fits
    // behind it, because the capacity is the byte limit, which counts that text.
    if (start + serialized.length * 3 + BODY_TAIL_BYTES <= this.body.length) {
      eventBytes = this.body.write(serialized, start, 'utf8');
    } else {
      eventBytes = Buffer.byteLength(serialized, 'utf8');
      if (batchBodyBytes(index + 1, this.eventBytes + eventBytes) > this.limits.maxBatchBytes) return false;
      this.body.write(serialized, start, 'utf8');
    }
    if (index > 0) this.body[this.end] = COMMA;
    this.starts[index] = start;
    this.end = start + eventBytes;
    this.eventBytes += eventBytes;
    this.lines[index] = line;
    const rawStart = index === 0 ? 0 : this.rawEnds[index - 1]!;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const rawMost = rawStart + raw.length * 3;
    if (rawMost > this.raw.length) {
      const grown = Buffer.allocUnsafe(Math.max(rawMost, this.raw.length * 2));
      this.raw.copy(grown, 0, 0, rawStart);
      this.raw = grown;
    }
    this.rawEnds[index] = rawStart + this.raw.write(raw, rawStart, 'utf8');
    this.count = index + 1;
    return true;
  }

  /** Number of events in the batch. */
  get size(): number {
    return this.count;
  }

  /** Exact byte size of the body the batch renders. */
  get bytes(): number {
    return batchBodyBytes(this.count, this.eventBytes);
  }

  /** The events added since the last clear(), to send; valid until the next clear(). */
  batch(): OutgoingBatch<BufferedEvent> {
    return new BufferedBatch(this, 0, this.count);
  }

  /** Starts an empty batch (after the last one was answered). */
  clear(): void {
    this.end = BODY_PREFIX_BYTES.length;
    this.count = 0;
    this.eventBytes = 0;
  }

  /** @internal The body of events [from, to): the whole batch in place, a part of it as a copy. */
  renderRange(from: number, to: number, sentAt: string): Buffer {
    if (sentAt.length !== SENT_AT_LENGTH) {
      throw new RangeError(`sentAt must be a ${SENT_AT_LENGTH}-character ISO timestamp (Date.toISOString()), got "${sentAt}"`);
    }
    const tail = `${BODY_INFIX}${sentAt}${BODY_SUFFIX}`;
    if (from === 0 && to === this.count) {
      const length = this.end + this.body.write(tail, this.end, 'latin1');
      return this.body.subarray(0, length);
    }
    const eventsEnd = to < this.count ? this.starts[to]! - 1 : this.end;
    const events = to > from ? this.body.subarray(this.starts[from]!, eventsEnd) : Buffer.alloc(0);
    return Buffer.concat([BODY_PREFIX_BYTES, events, Buffer.from(tail, 'latin1')]);
  }

  /** @internal Event `index` as a refusal reports it. */
  eventAt(index: number): BufferedEvent {
    if (index < 0 || index >= this.count) throw new RangeError(`no event ${index} in a batch of ${this.count}`);
    const rawStart = index === 0 ? 0 : this.rawEnds[index - 1]!;
    return { line: this.lines[index]!, raw: this.raw.toString('utf8', rawStart, this.rawEnds[index]!) };
  }
}

class BufferedBatch implements OutgoingBatch<BufferedEvent> {
  constructor(
    private readonly buffer: BatchBuffer,
    private readonly from: number,
    private readonly to: number,
  ) {}

  get length(): number {
    return this.to - this.from;
  }

  renderBody(sentAt: string): Buffer {
    return this.buffer.renderRange(this.from, this.to, sentAt);
  }

  halves(): [BufferedBatch, BufferedBatch] {
    const middle = this.from + Math.ceil(this.length / 2);
    return [new BufferedBatch(this.buffer, this.from, middle), new BufferedBatch(this.buffer, middle, this.to)];
  }

  event(index: number): BufferedEvent {
    if (index < 0 || index >= this.length) throw new RangeError(`no event ${index} in a batch of ${this.length}`);
    return this.buffer.eventAt(this.from + index);
  }
}
