/**
 * In-process test double for Segment's HTTP Tracking API (docs/segment-tracking-api.md, "What the test double
 * emulates"). One file of ~790 lines because it is one HTTP server whose routes, fault injection and records share
 * state; most of it is the documented behaviour listed below, which tests read in one place. It is the local stand-in for https://api.segment.io: the product is pointed at `double.url` and
 * appends `/v1/batch` itself.
 *
 * What it emulates, and where the double is deliberately stricter than what Segment documents:
 * - Endpoints: POST /v1/batch, /v1/import (legacy alias of batch) and the single-call endpoints
 *   /v1/identify|track|page|screen|group|alias, whose message type is implied by the path.
 * - Auth: HTTP Basic with the write key as username, or `writeKey` at the body root. Segment does not
 *   document what it answers for a missing or unknown key; the double answers 401 so tests catch a
 *   client that forgets the key. A `Bearer` header (OAuth) carries no write key, so the body must.
 * - 400 for a missing/non-JSON Content-Type, invalid JSON, an event over 32 KB or a body over 500 KB.
 *   The double enforces the documented limits reading "KB" as 1000 bytes (the stricter reading), so a
 *   client that passes here passes whatever Segment really means.
 * - 200 for everything else, including events Segment would silently drop (no ids, track without
 *   `event`, more than 2,500 events in one request, …). Drops are visible through `droppedMessages()`,
 *   the way the Segment Debugger shows them.
 * - messageId dedupe without the 24 h window (tests are shorter than that); duplicates are counted,
 *   never recorded twice. Events without a messageId get one assigned, as Segment does, so they are
 *   never deduplicated.
 * - `computedTimestamp` follows Segment's clock-skew correction (docs/segment-tracking-api.md,
 *   "Timestamps and sentAt").
 * - Faults (429/5xx, connection reset, lost acknowledgement, slow answer) are injected per request.
 *
 * Performance matters: a benchmark pushes 1,000,000 events through it on a 2-core machine, so each
 * body is parsed once, dedupe is a Set lookup, and `recordMessages: false` keeps only counters and
 * the set of accepted messageIds.
 */
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Documented limits (docs/segment-tracking-api.md, "Limits") and endpoints ("Endpoints and content type")
// ---------------------------------------------------------------------------------------------

/**
 * The double enforces the documented limits. "KB" is read as 1000 bytes, the stricter of the two
 * readings, so the client's own guards (src/shared/limits.ts) must keep it under these.
 */
export const DOUBLE_LIMITS = {
  /** A single-call request, or one event inside a batch, larger than this gets 400. */
  maxEventBytes: 32 * 1000,
  /** A batch request body larger than this gets 400 (measured uncompressed: Segment leaves gzip open). */
  maxBodyBytes: 500 * 1000,
  /** More events than this in one request: Segment answers 200 and drops all of them. */
  maxEventsPerBatch: 2_500,
  /** A longer messageId makes the event be dropped. */
  maxMessageIdLength: 100,
} as const;

/** Bodies beyond this are not even buffered: they are already far over every documented limit. */
const MAX_BUFFERED_BODY_BYTES = 8 * 1000 * 1000;

/**
 * Kept separate from src/core/types.ts on purpose: the double is an oracle written from the API
 * document, so a mistake in the product's list cannot hide itself.
 */
const TRACKING_CALL_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type TrackingCallType = (typeof TRACKING_CALL_TYPES)[number];
const CALL_TYPE_SET: ReadonlySet<string> = new Set(TRACKING_CALL_TYPES);

const BATCH_PATHS: ReadonlySet<string> = new Set(['/v1/batch', '/v1/import']);
const SINGLE_CALL_PATHS: ReadonlyMap<string, TrackingCallType> = new Map(TRACKING_CALL_TYPES.map((type) => [`/v1/${type}`, type] as const));

/** The write key accepted when `writeKeys` is not given. */
export const DEFAULT_WRITE_KEYS: readonly string[] = ['test-write-key'];
/** Longer than undici's keep-alive so the server never closes a socket the client is about to reuse. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Segment documents Retry-After for 429; a 429 fault without an explicit value still carries one. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface SegmentDoubleOptions {
  /** 0 = random free port (default). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Accepted write keys; default ['test-write-key']. */
  writeKeys?: string[];
  /**
   * Default true. When false (benchmark mode) only counters and the set of accepted messageIds are
   * kept: `messages`, `droppedMessages()` and `requestLog()` stay empty.
   */
  recordMessages?: boolean;
  /** Called after every answered (or reset) request, in both modes. Used by the CLI to print a summary line. */
  onRequest?: (entry: RequestLogEntry) => void;
  /**
   * Items this predicate matches make their whole request fail with 400, the way Segment answers a payload it
   * considers bad (docs/segment-tracking-api.md, "Responses and errors"). Lets tests check that a sender isolates the
   * offending event.
   */
  refuse?: (item: Record<string, unknown>) => boolean;
  /**
   * Answer like Segment is reported to: a write key it does not know gets 200 and the data is silently dropped
   * (counted in `stats().droppedUnknownKey`), instead of the stricter 401 the double answers by default.
   */
  likeSegment?: boolean;
}

export interface RecordedMessage {
  /** The write key the request authenticated with (Basic username, else body `writeKey`). */
  writeKey: string;
  /** Server time at which the request body was complete, ISO-8601. */
  receivedAt: string;
  /** The item's own `sentAt`, else the request root's `sentAt`. */
  sentAt?: string;
  /** Segment's `timestamp` after clock-skew correction (see `computeSegmentTimestamp`). */
  computedTimestamp?: string;
  /** The client's messageId, or the one the double assigned because the client sent none. */
  messageId: string;
  /**
   * The item as received (incl. type, messageId, timestamp...). For single-call endpoints it is the
   * whole body with `type` set from the path. Batch-level `context`/`integrations` are not merged in.
   */
  message: Record<string, unknown>;
}

export type Fault =
  /** Answer with this status (e.g. 429, 500, 503). A 429 always carries Retry-After/X-RateLimit-Reset. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; body?: string }
  /** Destroy the socket without answering (client sees ECONNRESET / socket hang up). Nothing is recorded. */
  | { kind: 'reset' }
  /** Process and record the request fully, then answer 500: the "lost acknowledgement" case. */
  | { kind: 'acceptThenFail' }
  /** Process and record the request on arrival, but hold the (normal) answer for `ms`. */
  | { kind: 'delay'; ms: number };

export interface RequestLogEntry {
  method: string;
  path: string;
  /** HTTP status answered; 0 when a `reset` fault closed the connection without an answer. */
  status: number;
  /** Items in the request: batch length, 1 for a single call, 0 if the body could not be read as such. */
  events: number;
  /** Body bytes as received on the wire. */
  bytes: number;
  /** `sentAt` at the body root, as sent. */
  sentAt?: string;
  /** Request headers, lower-case names, repeated headers joined with ', '. */
  headers: Record<string, string>;
  receivedAt: string;
  writeKey?: string;
  accepted: number;
  duplicates: number;
  dropped: number;
  /** The injected fault this request consumed, if any. */
  fault?: Fault['kind'];
}

export interface DroppedMessage {
  reason: string;
  message: unknown;
}

export interface SegmentDoubleStats {
  /** Every HTTP request, whatever the path. */
  requests: number;
  /** POST requests to /v1/batch or /v1/import. */
  batchRequests: number;
  /** Messages accepted (first time their messageId was seen, or without a messageId). */
  accepted: number;
  /** Messages whose messageId had already been accepted: Segment drops them. */
  duplicates: number;
  /** Messages answered 200 but dropped for a reason listed by `droppedMessages()`. Duplicates are not included. */
  dropped: number;
  /** Requests answered 400. */
  rejected400: number;
  /** Requests that consumed an injected fault. */
  faultsServed: number;
  /** Sum of all request body bytes as received on the wire. */
  bytesReceived: number;
  /** Largest (decoded) body of a tracking request, valid or not. */
  maxBatchBytes: number;
  /** Largest item count of a batch request, valid or not. */
  maxEventsInBatch: number;
  /** Events answered 200 but dropped because the write key was unknown (`likeSegment` mode). */
  droppedUnknownKey: number;
  /** Requests answered 401. */
  authFailures: number;
  /** Accepted messages that came without a messageId (the double assigned one). */
  missingMessageIds: number;
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests)
// ---------------------------------------------------------------------------------------------

/**
 * Segment's clock-skew correction (docs/segment-tracking-api.md, "Timestamps and sentAt"): `timestamp = receivedAt −
 * (sentAt − originalTimestamp)`. Without `sentAt` the given timestamp is kept as is (the behaviour importers rely
 * on); without a timestamp the event happens "now", i.e. at `receivedAt`. Unparseable inputs count as absent, except
 * an unparseable timestamp, which yields undefined (nothing sensible to report).
 */
export function computeSegmentTimestamp(receivedAtMs: number, sentAt: unknown, timestamp: unknown): string | undefined {
  if (timestamp === undefined || timestamp === null) return isoOrUndefined(receivedAtMs);
  const originalMs = parseTimeMs(timestamp);
  if (originalMs === undefined) return undefined;
  const sentMs = parseTimeMs(sentAt);
  if (sentMs === undefined) return isoOrUndefined(originalMs);
  return isoOrUndefined(receivedAtMs - (sentMs - originalMs));
}

/**
 * The write key in `Authorization: Basic base64("<key>:")`; the no-colon form is accepted too
 * (docs/segment-tracking-api.md, "Authentication").
 */
export function basicAuthWriteKey(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Basic\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon === -1 ? decoded : decoded.slice(0, colon);
  return key === '' ? undefined : key;
}

/**
 * Why Segment would silently drop this item (answering 200), or undefined if it would be accepted.
 * `impliedType` is the single-call endpoint's type; inside a batch every item must carry its own.
 */
export function dropReason(item: unknown, impliedType?: TrackingCallType): string | undefined {
  if (!isPlainObject(item)) return 'item is not a JSON object';
  const type = impliedType ?? item['type'];
  if (typeof type !== 'string' || !CALL_TYPE_SET.has(type)) return 'missing or unknown type';
  const messageId = item['messageId'];
  if (messageId !== undefined && typeof messageId !== 'string') return 'messageId is not a string';
  if (typeof messageId === 'string' && messageId.length > DOUBLE_LIMITS.maxMessageIdLength) {
    return `messageId longer than ${DOUBLE_LIMITS.maxMessageIdLength} characters`;
  }
  // alias links two user ids; anonymousId plays no part in it (docs/segment-tracking-api.md, "Message fields").
  if (type === 'alias') {
    return isNonEmptyString(item['previousId']) && isNonEmptyString(item['userId']) ? undefined : 'alias without previousId/userId';
  }
  if (!isNonEmptyString(item['userId']) && !isNonEmptyString(item['anonymousId'])) {
    return 'no userId or anonymousId';
  }
  if (type === 'track' && !isNonEmptyString(item['event'])) return 'track without event';
  if (type === 'group' && !isNonEmptyString(item['groupId'])) return 'group without groupId';
  return undefined;
}

/** Byte size of an event as the limits count it: compact JSON, UTF-8 (docs/segment-tracking-api.md, "Limits"). */
export function serializedBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function parseTimeMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** toISOString throws outside ±8.64e15 ms; a skewed computation must not crash the server. */
function isoOrUndefined(ms: number): string | undefined {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : undefined;
}

function isJsonContentType(header: string | undefined): boolean {
  return header !== undefined && /^application\/json\s*(;|$)/i.test(header.trim());
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function pathOf(rawUrl: string | undefined): string {
  const url = rawUrl ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A TCP RST makes the client see ECONNRESET, the closest thing to a dropped connection. */
function resetSocket(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

interface ReceivedBody {
  /** undefined when the body exceeded MAX_BUFFERED_BODY_BYTES and was only drained. */
  buffer: Buffer | undefined;
  bytes: number;
}

function readBody(req: IncomingMessage): Promise<ReceivedBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_BUFFERED_BODY_BYTES) chunks.push(chunk);
    });
    // An aborted upload still resolves: the handler answers into a closed socket, which is harmless.
    const finish = (): void => resolve({ buffer: bytes <= MAX_BUFFERED_BODY_BYTES ? Buffer.concat(chunks, bytes) : undefined, bytes });
    req.on('end', finish);
    req.on('error', finish);
  });
}

// ---------------------------------------------------------------------------------------------
// Request outcomes
// ---------------------------------------------------------------------------------------------

interface Outcome {
  status: number;
  body: string;
  contentType: string;
  headers?: Record<string, string>;
  events: number;
  accepted: number;
  duplicates: number;
  dropped: number;
  sentAt?: string;
  writeKey?: string;
}

const SUCCESS_BODY = JSON.stringify({ success: true });

function textOutcome(status: number, body: string, extra: Partial<Outcome> = {}): Outcome {
  return {
    status,
    body,
    contentType: 'text/plain; charset=utf-8',
    events: 0,
    accepted: 0,
    duplicates: 0,
    dropped: 0,
    ...extra,
  };
}

/**
 * Error bodies are plain text: clients must treat them as opaque (analytics-ruby saw "Bad Request";
 * docs/segment-tracking-api.md, "Responses and errors").
 */
function badRequest(detail: string, extra: Partial<Outcome> = {}): Outcome {
  return textOutcome(400, `Bad Request: ${detail}`, extra);
}

/** The root `sentAt` of a body a fault refused, so the log shows what each attempt claimed (retried requests are compared). */
function sentAtOf(buffer: Buffer | undefined): { sentAt?: string } {
  try {
    const sentAt = (JSON.parse(buffer?.toString('utf8') ?? '') as { sentAt?: unknown }).sentAt;
    return typeof sentAt === 'string' ? { sentAt } : {};
  } catch {
    return {};
  }
}

function faultOutcome(fault: Extract<Fault, { kind: 'status' }>): Outcome {
  const retryAfter = fault.retryAfterSeconds ?? (fault.status === 429 ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  // Segment documents both headers as "seconds until you may retry" (docs/segment-tracking-api.md, "Rate limits").
  const headers = retryAfter === undefined ? undefined : { 'retry-after': String(retryAfter), 'x-ratelimit-reset': String(retryAfter) };
  return textOutcome(fault.status, fault.body ?? STATUS_CODES[fault.status] ?? 'Injected fault', { headers });
}

// ---------------------------------------------------------------------------------------------
// The double
// ---------------------------------------------------------------------------------------------

function emptyStats(): SegmentDoubleStats {
  return {
    requests: 0,
    batchRequests: 0,
    accepted: 0,
    duplicates: 0,
    dropped: 0,
    rejected400: 0,
    faultsServed: 0,
    bytesReceived: 0,
    maxBatchBytes: 0,
    maxEventsInBatch: 0,
    authFailures: 0,
    droppedUnknownKey: 0,
    missingMessageIds: 0,
  };
}

export class SegmentDouble {
  readonly url: string;

  private readonly server: Server;
  private readonly writeKeys: ReadonlySet<string>;
  private readonly recordMessages: boolean;
  private readonly onRequest: ((entry: RequestLogEntry) => void) | undefined;
  private readonly refuse: ((item: Record<string, unknown>) => boolean) | undefined;
  private readonly likeSegment: boolean;

  private counters = emptyStats();
  private recorded: RecordedMessage[] = [];
  private acceptedIds = new Set<string>();
  private drops: DroppedMessage[] = [];
  private log: RequestLogEntry[] = [];
  /** Counts only /v1/* requests: the clock that fault scheduling runs on. */
  private trackingRequestCount = 0;
  private assignedIdCounter = 0;
  private faultQueue: Fault[] = [];
  private scheduledFaults = new Map<number, Fault>();
  private readonly pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  private constructor(server: Server, url: string, opts: SegmentDoubleOptions) {
    this.server = server;
    this.url = url;
    this.writeKeys = new Set(opts.writeKeys ?? DEFAULT_WRITE_KEYS);
    this.likeSegment = opts.likeSegment ?? false;
    this.recordMessages = opts.recordMessages ?? true;
    this.onRequest = opts.onRequest;
    this.refuse = opts.refuse;
  }

  static async start(opts: SegmentDoubleOptions = {}): Promise<SegmentDouble> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    const double = new SegmentDouble(server, `http://${urlHost}:${port}`, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      double.handle(req, res).catch((error: unknown) => {
        // A bug in the double must be loud, but must not take the test process down.
        console.error('segment-double: internal error', error);
        if (!res.headersSent && !res.destroyed) res.writeHead(500).end('segment-double internal error');
      });
    });
    return double;
  }

  async stop(): Promise<void> {
    for (const pending of this.pendingDelays) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.pendingDelays.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ----- faults --------------------------------------------------------------------------------

  /** Queue faults: each next /v1/* request consumes one, first in first out. */
  injectFaults(...faults: Fault[]): void {
    this.faultQueue.push(...faults);
  }

  /**
   * Serve `fault` on the n-th /v1/* request counted from now (n = 1 is the very next one). A fault
   * scheduled this way wins over the queue, which is then left untouched for that request.
   */
  injectFaultOnRequest(n: number, fault: Fault): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`request number must be an integer >= 1, got ${n}`);
    const target = this.trackingRequestCount + n;
    if (this.scheduledFaults.has(target)) throw new Error(`a fault is already scheduled for request ${n} from now`);
    this.scheduledFaults.set(target, fault);
  }

  clearFaults(): void {
    this.faultQueue = [];
    this.scheduledFaults.clear();
  }

  /** Forget everything recorded and every pending fault; the request clock restarts at zero. */
  reset(): void {
    this.clearFaults();
    this.counters = emptyStats();
    this.recorded = [];
    this.acceptedIds = new Set();
    this.drops = [];
    this.log = [];
    this.trackingRequestCount = 0;
  }

  // ----- observations --------------------------------------------------------------------------

  /** Accepted messages in arrival order. Live array: do not mutate. Empty when recordMessages=false. */
  get messages(): RecordedMessage[] {
    return this.recorded;
  }

  /** A copy of the set of client-supplied messageIds that were accepted (assigned ids are not included). */
  uniqueMessageIds(): Set<string> {
    return new Set(this.acceptedIds);
  }

  stats(): SegmentDoubleStats {
    return { ...this.counters };
  }

  duplicateCount(): number {
    return this.counters.duplicates;
  }

  /**
   * Messages answered 200 but dropped: no ids, track without event, group without groupId, alias
   * without previousId/userId, missing/unknown type, more than 2,500 events in the request,
   * messageId over 100 characters. Duplicates are counted separately (`duplicateCount()`).
   */
  droppedMessages(): DroppedMessage[] {
    return [...this.drops];
  }

  requestLog(): RequestLogEntry[] {
    return [...this.log];
  }

  // ----- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.requests += 1;
    const path = pathOf(req.url);
    // The fault is taken on arrival, so faults follow request arrival order even with concurrent requests.
    const fault = path.startsWith('/v1/') ? this.takeFault() : undefined;
    const body = await readBody(req);
    const receivedAtMs = Date.now();
    this.counters.bytesReceived += body.bytes;
    if (fault) this.counters.faultsServed += 1;

    if (fault?.kind === 'reset') {
      this.finish(req, path, body.bytes, receivedAtMs, textOutcome(0, ''), fault);
      resetSocket(req.socket);
      return;
    }

    let outcome = fault?.kind === 'status' ? { ...faultOutcome(fault), ...sentAtOf(body.buffer) } : this.process(req, path, body, receivedAtMs);
    if (fault?.kind === 'acceptThenFail') {
      // Keep the tally: the messages really were recorded, only the answer is lost.
      outcome = { ...outcome, status: 500, body: 'Internal Server Error', contentType: 'text/plain; charset=utf-8' };
    }
    if (fault?.kind === 'delay') await this.sleep(fault.ms);

    this.finish(req, path, body.bytes, receivedAtMs, outcome, fault);
    if (res.destroyed) return;
    res.writeHead(outcome.status, {
      'content-type': outcome.contentType,
      'content-length': Buffer.byteLength(outcome.body),
      ...outcome.headers,
    });
    res.end(outcome.body);
  }

  private takeFault(): Fault | undefined {
    this.trackingRequestCount += 1;
    const scheduled = this.scheduledFaults.get(this.trackingRequestCount);
    if (scheduled) {
      this.scheduledFaults.delete(this.trackingRequestCount);
      return scheduled;
    }
    return this.faultQueue.shift();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        timer: setTimeout(() => {
          this.pendingDelays.delete(pending);
          resolve();
        }, ms),
        resolve,
      };
      this.pendingDelays.add(pending);
    });
  }

  private finish(req: IncomingMessage, path: string, bytes: number, receivedAtMs: number, outcome: Outcome, fault: Fault | undefined): void {
    if (outcome.status === 400) this.counters.rejected400 += 1;
    if (outcome.status === 401) this.counters.authFailures += 1;
    if (!this.recordMessages && !this.onRequest) return;
    const entry: RequestLogEntry = {
      method: req.method ?? '',
      path,
      status: outcome.status,
      events: outcome.events,
      bytes,
      headers: flattenHeaders(req.headers),
      receivedAt: new Date(receivedAtMs).toISOString(),
      accepted: outcome.accepted,
      duplicates: outcome.duplicates,
      dropped: outcome.dropped,
    };
    if (outcome.sentAt !== undefined) entry.sentAt = outcome.sentAt;
    if (outcome.writeKey !== undefined) entry.writeKey = outcome.writeKey;
    if (fault) entry.fault = fault.kind;
    if (this.recordMessages) this.log.push(entry);
    this.onRequest?.(entry);
  }

  /** Everything a fault-free request goes through, in the order Segment would plausibly check it. */
  private process(req: IncomingMessage, path: string, body: ReceivedBody, receivedAtMs: number): Outcome {
    const isBatch = BATCH_PATHS.has(path);
    const impliedType = SINGLE_CALL_PATHS.get(path);
    if (!isBatch && impliedType === undefined) return textOutcome(404, 'Not Found');
    if (req.method !== 'POST') return textOutcome(405, 'Method Not Allowed', { headers: { allow: 'POST' } });
    if (isBatch) this.counters.batchRequests += 1;

    // Every endpoint requires Content-Type: application/json
    // (docs/segment-tracking-api.md, "Endpoints and content type").
    if (!isJsonContentType(req.headers['content-type'])) return badRequest('Content-Type must be application/json');

    const decoded = decodeBody(body, req.headers['content-encoding']);
    if (typeof decoded === 'string') return badRequest(decoded);
    this.counters.maxBatchBytes = Math.max(this.counters.maxBatchBytes, decoded.length);
    const maxBytes = isBatch ? DOUBLE_LIMITS.maxBodyBytes : DOUBLE_LIMITS.maxEventBytes;
    if (decoded.length > maxBytes) return badRequest(`request body is ${decoded.length} bytes, limit ${maxBytes}`);

    let parsed: unknown;
    try {
      parsed = JSON.parse(decoded.toString('utf8'));
    } catch {
      return badRequest('invalid JSON');
    }
    if (!isPlainObject(parsed)) return badRequest('body must be a JSON object');
    const rootSentAt = typeof parsed['sentAt'] === 'string' ? parsed['sentAt'] : undefined;

    const auth = this.authenticate(req.headers.authorization, parsed['writeKey']);
    if (auth.writeKey === undefined && this.likeSegment) {
      // Segment's reported behaviour: 200, and the events go nowhere.
      const events = Array.isArray(parsed['batch']) ? parsed['batch'].length : 1;
      this.counters.dropped += events;
      this.counters.droppedUnknownKey += events;
      return { ...textOutcome(200, SUCCESS_BODY, { sentAt: rootSentAt, events, dropped: events }), contentType: 'application/json' };
    }
    if (auth.writeKey === undefined) return textOutcome(401, `Unauthorized: ${auth.problem}`, { sentAt: rootSentAt });
    const context = { writeKey: auth.writeKey, sentAt: rootSentAt };

    let items: unknown[];
    if (isBatch) {
      const batch = parsed['batch'];
      // Segment does not document this case; a 400 makes a malformed client fail loudly in tests.
      if (!Array.isArray(batch)) return badRequest('batch must be an array', context);
      items = batch;
      this.counters.maxEventsInBatch = Math.max(this.counters.maxEventsInBatch, items.length);
    } else {
      items = [{ ...parsed, type: impliedType }];
    }
    const counted = { ...context, events: items.length };

    // Re-serializing is only needed when some single item could be over the limit.
    if (isBatch && decoded.length > DOUBLE_LIMITS.maxEventBytes) {
      const oversized = items.findIndex((item) => serializedBytes(item) > DOUBLE_LIMITS.maxEventBytes);
      if (oversized !== -1) {
        return badRequest(`event ${oversized} is larger than ${DOUBLE_LIMITS.maxEventBytes} bytes`, counted);
      }
    }

    if (this.refuse) {
      const refused = items.findIndex((item) => isPlainObject(item) && this.refuse!(item));
      if (refused !== -1) return badRequest(`event ${refused} is invalid`, counted);
    }

    const tally = this.ingest(items, impliedType, auth.writeKey, rootSentAt, receivedAtMs);
    return { ...textOutcome(200, SUCCESS_BODY), contentType: 'application/json', ...counted, ...tally };
  }

  /**
   * A presented key must be accepted, and at least one must be presented. When both the Basic header
   * and the body carry a key, both must be accepted (analytics-node sends both, with the same key).
   */
  private authenticate(
    authorization: string | undefined,
    bodyWriteKey: unknown,
  ): { writeKey: string; problem?: undefined } | { writeKey?: undefined; problem: string } {
    const headerKey = basicAuthWriteKey(authorization);
    const bodyKey = isNonEmptyString(bodyWriteKey) ? bodyWriteKey : undefined;
    const presented = [headerKey, bodyKey].filter((key): key is string => key !== undefined);
    if (presented.length === 0) return { problem: 'no write key (Basic auth username or body writeKey)' };
    if (!presented.every((key) => this.writeKeys.has(key))) return { problem: 'unknown write key' };
    return { writeKey: presented[0] as string };
  }

  private ingest(
    items: unknown[],
    impliedType: TrackingCallType | undefined,
    writeKey: string,
    rootSentAt: string | undefined,
    receivedAtMs: number,
  ): { accepted: number; duplicates: number; dropped: number } {
    const tally = { accepted: 0, duplicates: 0, dropped: 0 };
    if (items.length > DOUBLE_LIMITS.maxEventsPerBatch) {
      // Segment answers 200 but rejects every event of an over-long batch (docs/segment-tracking-api.md, "Limits").
      const reason = `more than ${DOUBLE_LIMITS.maxEventsPerBatch} events in one request`;
      for (const message of items) this.drop(reason, message);
      tally.dropped = items.length;
      this.counters.dropped += tally.dropped;
      return tally;
    }
    const receivedAt = new Date(receivedAtMs).toISOString();
    for (const item of items) {
      const reason = dropReason(item, impliedType);
      if (reason !== undefined) {
        this.drop(reason, item);
        tally.dropped += 1;
        continue;
      }
      const message = item as Record<string, unknown>;
      const clientId = message['messageId'] as string | undefined;
      if (clientId !== undefined) {
        if (this.acceptedIds.has(clientId)) {
          tally.duplicates += 1;
          continue;
        }
        this.acceptedIds.add(clientId);
      } else {
        this.counters.missingMessageIds += 1;
      }
      tally.accepted += 1;
      if (this.recordMessages) {
        const sentAt = typeof message['sentAt'] === 'string' ? message['sentAt'] : rootSentAt;
        const recordedMessage: RecordedMessage = {
          writeKey,
          receivedAt,
          // Segment assigns an id to id-less events, so their retries are never deduplicated.
          messageId: clientId ?? `segment-double-${++this.assignedIdCounter}`,
          message,
        };
        if (sentAt !== undefined) recordedMessage.sentAt = sentAt;
        const computed = computeSegmentTimestamp(receivedAtMs, sentAt, message['timestamp']);
        if (computed !== undefined) recordedMessage.computedTimestamp = computed;
        this.recorded.push(recordedMessage);
      }
    }
    this.counters.accepted += tally.accepted;
    this.counters.duplicates += tally.duplicates;
    this.counters.dropped += tally.dropped;
    return tally;
  }

  private drop(reason: string, message: unknown): void {
    if (this.recordMessages) this.drops.push({ reason, message });
  }
}

/**
 * The uncompressed body, or the reason it cannot be read. analytics-python may gzip
 * (docs/segment-tracking-api.md, "Limits").
 */
function decodeBody(body: ReceivedBody, contentEncoding: string | undefined): Buffer | string {
  if (body.buffer === undefined) return `request body is ${body.bytes} bytes, far over every limit`;
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body.buffer;
  if (encoding !== 'gzip') return `unsupported Content-Encoding ${encoding}`;
  try {
    return gunzipSync(body.buffer, { maxOutputLength: MAX_BUFFERED_BODY_BYTES });
  } catch {
    return 'invalid gzip body';
  }
}
