/**
 * In-process test double for the subset of Segment's Public API (management API) that segflow uses
 * (/work/shared/segment/API.md §2, catalogue §2.7, and the §3 "Test-double checklist").
 *
 * What it emulates:
 * - Real paths from the catalogue: #1-#15 incl. 5b, 6b, 7b, 13b, 14b, plus `GET /` (workspace).
 * - Envelopes: `{data: ...}` on success, `{errors: [{type, message, field?, data?, status}]}` on failure.
 * - Auth: `Authorization: Bearer <token>`; anything else is 401 (the docs fold permission problems into 401).
 * - Pagination on list endpoints: both query styles, `pagination.count` / `pagination.cursor` (docs) and
 *   `pagination[count]` / `pagination[cursor]` (SDKs); default count 200, allowed 1..1000 (422 otherwise);
 *   opaque cursors that are base64 of the offset, like the docs' examples (`MA==`); `next`/`previous` are null
 *   at the ends; `totalEntries` is set.
 * - Rate limits: every answer carries X-RateLimit-Consumed / -Remaining / -Reset (an RFC 5322 date). When the
 *   window's points run out, or when a `rate-limit` fault is injected, the answer is 429 with the documented body
 *   `{errors:[{type:'RequestError', message:'Too many requests', data:{remainingPoints, msBeforeNext, consumedPoints}}]}`.
 * - 404 for unknown ids and unknown routes; 422 for validation (missing delivery-metrics `sourceId`, a usage
 *   `period` that is not the first day of a month, bad pagination, bad bodies, labels unknown to the workspace);
 *   409 when creating a label that exists.
 *
 * Versioning (API.md §2.2) — decisions:
 * - Accept `application/vnd.segment.{v1alpha|alpha|v1beta|beta|v1|stable}+json`; anything else (`application/json`,
 *   `*\/*`, no header) asks for no version, and the request goes to the most stable version the route has
 *   (stable -> beta -> alpha). So an alpha-only route (the write-key endpoints) answers a versionless request.
 * - Versions nest: a stable route is served for every requested version, a beta route for beta and alpha, an
 *   alpha route only for alpha. A route asked for a version it does not offer answers **404 like a missing
 *   route** (type `not-found`): the real API publishes a separate route table per version.
 *
 * Other behaviour the docs leave open, decided here:
 * - PATCH /sources/{id} replaces `settings` as a whole (the stricter reading: a client that sends the merged
 *   object works whatever Segment does). Unknown body fields are 422, so client typos show up in tests.
 * - DELETE /sources/{id} also removes the destinations connected to it and its warehouse connections.
 * - Delivery metrics: the DAY granularity defaults to 30 days back as the spec says, which its own 14-day limit
 *   refuses: clients must send a start (the SDK's destinationsApi.ts documents both).
 *
 * Test hooks: `injectFaults(...)` (429 / 5xx / hang / apply-then-hang / apply-then-fail, matched by method and
 * path), `auditLog()` (every write that was applied, in order), `requestLog()` (every request), `state` (live
 * state for assertions and direct edits).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Shapes (API.md §2.6), as the double stores them
// ---------------------------------------------------------------------------------------------

export interface LabelRecord {
  key: string;
  value: string;
  description?: string;
}

export interface SourceRecord {
  id: string;
  slug: string;
  name?: string;
  workspaceId: string;
  enabled: boolean;
  writeKeys: string[];
  settings: Record<string, unknown>;
  labels: LabelRecord[];
  metadata: Record<string, unknown>;
  /** Protocols schema settings (#7 / #7b). */
  schemaSettings: Record<string, unknown>;
}

export interface DestinationRecord {
  id: string;
  name?: string;
  enabled: boolean;
  sourceId: string;
  settings: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface WarehouseRecord {
  id: string;
  workspaceId: string;
  enabled: boolean;
  settings: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** Sources connected to this warehouse (not part of WarehouseV1: the double's join table). */
  sourceIds: string[];
}

export interface UsageRecord {
  sourceId: string;
  /** Daily cumulative count within the usage month (API.md #14). */
  apiCalls: number | string;
  timestamp: string;
}

export interface DeliveryMetricsRecord {
  destinationId: string;
  sourceId: string;
  metrics: Array<{ metricName: string; total: number; breakdown?: Array<{ metricName: string; value: number }> }>;
}

export interface SourceSeed extends Partial<Omit<SourceRecord, 'id'>> {
  id: string;
}
export interface DestinationSeed extends Partial<Omit<DestinationRecord, 'id' | 'sourceId'>> {
  id: string;
  sourceId: string;
}
export interface WarehouseSeed extends Partial<Omit<WarehouseRecord, 'id'>> {
  id: string;
  name?: string;
}

export interface PublicApiDoubleOptions {
  /** The only Bearer token accepted. */
  token: string;
  port?: number;
  host?: string;
  workspace?: { id: string; slug: string; name: string };
  sources?: SourceSeed[];
  destinations?: DestinationSeed[];
  warehouses?: WarehouseSeed[];
  /** Labels that exist in the workspace (#12/#13). */
  labels?: LabelRecord[];
  usage?: UsageRecord[];
  deliveryMetrics?: DeliveryMetricsRecord[];
  /** Points per rate-limit window (default 10,000: tests do not hit it unless they ask). */
  rateLimitPoints?: number;
  /** Rate-limit window length (default 60 s). */
  rateLimitWindowMs?: number;
  /** Clock for time windows and headers; default the real one. */
  now?: () => Date;
  /** Generator of new write keys (#8); default 32 random hex characters. */
  newWriteKey?: () => string;
  /**
   * Behave like Segment where the documents leave a client room to get it wrong: list pages are small (2 items by
   * default), so a client that does not follow `pagination.next` misses sources; and a token without the Source Admin
   * permission (`sourceAdmin: false`, the default here) sees every source's `writeKeys` empty.
   */
  likeSegment?: { sourceAdmin?: boolean; pageCount?: number };
}

export interface FaultMatch {
  method?: string;
  /** Exact path (no query), or a pattern tested against the path. */
  path?: string | RegExp;
}

export type PublicApiFault = { match?: FaultMatch; times?: number } & (
  | { kind: 'rate-limit'; msBeforeNext?: number }
  | { kind: 'server-error'; status?: number }
  /** Never answer (the socket stays open until the client gives up or the double stops). */
  | { kind: 'hang' }
  /** Apply the request (state and audit log change), then never answer: a crash after the write, before the ack. */
  | { kind: 'apply-then-hang' }
  /** Apply the request, then answer 500: a lost acknowledgement. */
  | { kind: 'apply-then-fail' }
);

export interface AuditEntry {
  method: string;
  /** Path without query string. */
  path: string;
  body: unknown;
  at: string;
  status: number;
}

export interface PublicApiRequestLogEntry {
  method: string;
  /** Path with query string, as received. */
  url: string;
  path: string;
  status: number;
  accept?: string;
  at: string;
  fault?: PublicApiFault['kind'];
}

export interface PublicApiDoubleState {
  workspace: { id: string; slug: string; name: string };
  sources: SourceRecord[];
  destinations: DestinationRecord[];
  warehouses: WarehouseRecord[];
  labels: LabelRecord[];
  usage: UsageRecord[];
  deliveryMetrics: DeliveryMetricsRecord[];
}

// ---------------------------------------------------------------------------------------------
// Routing helpers
// ---------------------------------------------------------------------------------------------

type ApiVersion = 'stable' | 'beta' | 'alpha';

/** Which requested versions a route answers, by the most stable version it exists in (see header). */
const SERVED_FOR: Record<ApiVersion, ReadonlySet<ApiVersion>> = {
  stable: new Set(['stable', 'beta', 'alpha']),
  beta: new Set(['beta', 'alpha']),
  alpha: new Set(['alpha']),
};

const VERSION_MEDIA_TYPE = /^application\/vnd\.segment\.(v1alpha|alpha|v1beta|beta|v1|stable)\+json$/;

/** The API version an Accept header asks for, or undefined when it asks for none (API.md §2.2). */
export function requestedApiVersion(accept: string | undefined): ApiVersion | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const mediaType = part.split(';')[0]?.trim().toLowerCase() ?? '';
    const match = VERSION_MEDIA_TYPE.exec(mediaType);
    if (!match) continue;
    const tag = match[1];
    if (tag === 'v1alpha' || tag === 'alpha') return 'alpha';
    if (tag === 'v1beta' || tag === 'beta') return 'beta';
    return 'stable';
  }
  return undefined;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly field?: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

const notFound = (what: string) => new ApiError(404, 'not-found', `${what} not found`);
const invalid = (field: string, message: string) => new ApiError(422, 'input-validation', message, field);

interface RouteContext {
  params: string[];
  query: URLSearchParams;
  body: unknown;
}

interface RouteResult {
  status: number;
  data: unknown;
}

interface Route {
  method: string;
  pattern: RegExp;
  /** The most stable version the route exists in. */
  version: ApiVersion;
  write: boolean;
  handle(ctx: RouteContext): RouteResult;
}

/** Both pagination query styles (API.md §2.4). */
function paginationParam(query: URLSearchParams, name: 'count' | 'cursor'): string | null {
  return query.get(`pagination.${name}`) ?? query.get(`pagination[${name}]`);
}

export function encodeCursor(offset: number): string {
  return Buffer.from(String(offset), 'utf8').toString('base64');
}

function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!/^\d+$/.test(text) || encodeCursor(Number(text)) !== cursor) return undefined;
  return Number(text);
}

export const DEFAULT_PAGE_COUNT = 200;
const MAX_PAGE_COUNT = 1000;

function paginate<T>(items: T[], query: URLSearchParams): { page: T[]; pagination: Record<string, unknown> } {
  const countText = paginationParam(query, 'count');
  let count = DEFAULT_PAGE_COUNT;
  if (countText !== null) {
    count = Number(countText);
    if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE_COUNT) {
      throw invalid('pagination.count', `pagination.count must be an integer between 1 and ${MAX_PAGE_COUNT}`);
    }
  }
  const cursorText = paginationParam(query, 'cursor');
  let offset = 0;
  if (cursorText !== null && cursorText !== '') {
    const decoded = decodeCursor(cursorText);
    if (decoded === undefined) throw invalid('pagination.cursor', 'pagination.cursor is not a valid cursor');
    offset = decoded;
  }
  const page = items.slice(offset, offset + count);
  return {
    page,
    pagination: {
      current: encodeCursor(offset),
      next: offset + count < items.length ? encodeCursor(offset + count) : null,
      previous: offset > 0 ? encodeCursor(Math.max(0, offset - count)) : null,
      totalEntries: items.length,
    },
  };
}

function asObject(body: unknown, field = 'body'): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid(field, `${field} must be a JSON object`);
  return body as Record<string, unknown>;
}

function rejectUnknownFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalid(key, `unknown field ${key}`);
  }
}

function parseLabel(raw: unknown, field: string): LabelRecord {
  const obj = asObject(raw, field);
  if (typeof obj.key !== 'string' || obj.key === '') throw invalid(`${field}.key`, 'label key must be a non-empty string');
  if (typeof obj.value !== 'string' || obj.value === '') throw invalid(`${field}.value`, 'label value must be a non-empty string');
  if (obj.description !== undefined && typeof obj.description !== 'string') {
    throw invalid(`${field}.description`, 'label description must be a string');
  }
  return { key: obj.key, value: obj.value, ...(obj.description !== undefined ? { description: obj.description } : {}) };
}

const sameLabel = (a: LabelRecord, b: LabelRecord) => a.key === b.key && a.value === b.value;

/** A usage `period` is the start of a usage month: `YYYY-MM-01`, optionally as midnight UTC date-time. */
function parsePeriod(period: string | null): Date {
  if (period === null || period === '') throw invalid('period', 'period is required (start of the usage month, e.g. 2021-02-01)');
  const match = /^(\d{4})-(\d{2})-01(?:T00:00(?::00(?:\.0+)?)?Z)?$/.exec(period);
  const month = match ? Number(match[2]) : 0;
  if (!match || month < 1 || month > 12) {
    throw invalid('period', `period must be the first day of a month as ISO-8601 (e.g. 2021-02-01), got "${period}"`);
  }
  return new Date(Date.UTC(Number(match[1]), month - 1, 1));
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Delivery-metrics windows per granularity (API.md #11): max range, oldest start, default lookback. */
const METRIC_WINDOWS: Record<string, { maxRangeMs: number; oldestMs: number; defaultBackMs: number }> = {
  MINUTE: { maxRangeMs: 4 * HOUR, oldestMs: 48 * HOUR, defaultBackMs: HOUR },
  HOUR: { maxRangeMs: 7 * DAY, oldestMs: 7 * DAY, defaultBackMs: 7 * DAY },
  // The spec's default start for DAY is 30 days back, past its own 14-day limit: a DAY request without a start
  // is refused, as it would be by Segment (API.md, delivery metrics windows).
  DAY: { maxRangeMs: 14 * DAY, oldestMs: 14 * DAY, defaultBackMs: 30 * DAY },
};

function parseTime(text: string | null, field: string): number | undefined {
  if (text === null || text === '') return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(ms)) throw invalid(field, `${field} must be an ISO-8601 date-time`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// The double
// ---------------------------------------------------------------------------------------------

const DEFAULT_SOURCE_METADATA = {
  id: 'meta-javascript',
  name: 'Javascript',
  slug: 'javascript',
  description: 'Analytics.js',
  logos: {},
  options: [],
  categories: ['Website'],
  isCloudEventSource: false,
  status: 'PUBLIC',
};

const DEFAULT_SCHEMA_SETTINGS = {
  track: {
    allowUnplannedEvents: true,
    allowUnplannedEventProperties: true,
    allowEventOnViolations: true,
    allowPropertiesOnViolations: true,
    commonEventOnViolations: 'ALLOW',
  },
  identify: { allowUnplannedTraits: true, allowTraitsOnViolations: true, commonEventOnViolations: 'ALLOW' },
  group: { allowUnplannedTraits: true, allowTraitsOnViolations: true, commonEventOnViolations: 'ALLOW' },
};

export class PublicApiDouble {
  readonly url: string;
  readonly state: PublicApiDoubleState;

  private readonly server: Server;
  private readonly token: string;
  private readonly now: () => Date;
  private readonly newWriteKey: () => string;
  private readonly rateLimitPoints: number;
  private readonly rateLimitWindowMs: number;
  private readonly routes: Route[];
  private readonly likeSegment: PublicApiDoubleOptions['likeSegment'];
  private faults: Array<PublicApiFault & { remaining: number }> = [];
  private audit: AuditEntry[] = [];
  private requests: PublicApiRequestLogEntry[] = [];
  private windowStart = 0;
  private consumed = 0;
  private idCounter = 0;

  private constructor(server: Server, url: string, opts: PublicApiDoubleOptions) {
    this.server = server;
    this.url = url;
    this.token = opts.token;
    this.now = opts.now ?? (() => new Date());
    this.newWriteKey = opts.newWriteKey ?? (() => randomBytes(16).toString('hex'));
    this.rateLimitPoints = opts.rateLimitPoints ?? 10_000;
    this.rateLimitWindowMs = opts.rateLimitWindowMs ?? 60_000;
    this.state = seedState(opts);
    this.likeSegment = opts.likeSegment;
    this.routes = this.buildRoutes();
  }

  static async start(opts: PublicApiDoubleOptions): Promise<PublicApiDouble> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const double = new PublicApiDouble(server, `http://${host}:${port}`, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      double.handle(req, res).catch((error: unknown) => {
        console.error('public-api-double: internal error', error);
        if (!res.headersSent && !res.destroyed) res.writeHead(500).end('public-api-double internal error');
      });
    });
    return double;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Queue faults; each request consumes the first queued fault that matches it (`times` defaults to 1). */
  injectFaults(...faults: PublicApiFault[]): void {
    for (const fault of faults) this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Every write that was applied, in order. */
  auditLog(): AuditEntry[] {
    return this.audit.map((entry) => ({ ...entry }));
  }

  requestLog(): PublicApiRequestLogEntry[] {
    return this.requests.map((entry) => ({ ...entry }));
  }

  source(id: string): SourceRecord | undefined {
    return this.state.sources.find((source) => source.id === id);
  }

  // ----- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://double.local');
    const path = url.pathname;
    const accept = req.headers.accept;
    const rawBody = await readBody(req);
    const log = (status: number, fault?: PublicApiFault['kind']) =>
      this.requests.push({ method, url: req.url ?? path, path, status, accept, at: this.now().toISOString(), fault });

    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.token}`) {
      log(401);
      return this.sendErrors(res, new ApiError(401, 'unauthorized', 'Missing or invalid token'));
    }

    const limited = this.consumePoint();
    if (limited) {
      log(429);
      return this.sendRateLimited(res, limited);
    }

    const fault = this.takeFault(method, path);
    if (fault?.kind === 'rate-limit') {
      log(429, fault.kind);
      return this.sendRateLimited(res, fault.msBeforeNext ?? 1_000);
    }
    if (fault?.kind === 'server-error') {
      const status = fault.status ?? 500;
      log(status, fault.kind);
      return this.sendErrors(res, new ApiError(status, 'internal-error', 'Injected server error'));
    }
    if (fault?.kind === 'hang') {
      log(0, fault.kind);
      return;
    }

    let status: number;
    let payload: unknown;
    try {
      const { route, params } = this.findRoute(method, path, requestedApiVersion(accept));
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          throw new ApiError(400, 'bad-request', 'Request body is not valid JSON');
        }
      }
      const result = route.handle({ params, query: url.searchParams, body });
      status = result.status;
      payload = { data: result.data };
      if (route.write) {
        this.audit.push({ method, path, body: body ?? null, at: this.now().toISOString(), status });
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      log(error.status, fault?.kind);
      return this.sendErrors(res, error);
    }

    if (fault?.kind === 'apply-then-hang') {
      log(0, fault.kind);
      return;
    }
    if (fault?.kind === 'apply-then-fail') {
      log(500, fault.kind);
      return this.sendErrors(res, new ApiError(500, 'internal-error', 'Injected failure after applying the request'));
    }
    log(status);
    this.sendJson(res, status, payload);
  }

  private findRoute(method: string, path: string, version: ApiVersion | undefined): { route: Route; params: string[] } {
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match || route.method !== method) continue;
      if (version !== undefined && !SERVED_FOR[route.version].has(version)) {
        throw new ApiError(404, 'not-found', `${method} ${path.replace(/\/writekey\/[^/]+$/, '/writekey/{writeKey}')} does not exist in API version ${version}`);
      }
      return { route, params: match.slice(1).map((part) => decodeURIComponent(part)) };
    }
    throw new ApiError(404, 'not-found', `No route for ${method} ${path}`);
  }

  private takeFault(method: string, path: string): PublicApiFault | undefined {
    const index = this.faults.findIndex((fault) => faultMatches(fault.match, method, path));
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }

  /** Returns the wait in ms when the window is exhausted, undefined when the request may proceed. */
  private consumePoint(): number | undefined {
    const now = this.now().getTime();
    if (now - this.windowStart >= this.rateLimitWindowMs) {
      this.windowStart = now;
      this.consumed = 0;
    }
    if (this.consumed >= this.rateLimitPoints) return this.windowStart + this.rateLimitWindowMs - now;
    this.consumed += 1;
    return undefined;
  }

  private rateLimitHeaders(): Record<string, string> {
    return {
      'X-RateLimit-Consumed': String(this.consumed),
      'X-RateLimit-Remaining': String(Math.max(0, this.rateLimitPoints - this.consumed)),
      // RFC 5322 date of the window reset (API.md §2.5).
      'X-RateLimit-Reset': new Date(this.windowStart + this.rateLimitWindowMs).toUTCString(),
    };
  }

  private sendJson(res: ServerResponse, status: number, payload: unknown): void {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...this.rateLimitHeaders(),
    });
    res.end(text);
  }

  private sendErrors(res: ServerResponse, error: ApiError): void {
    const entry: Record<string, unknown> = { type: error.type, message: error.message, status: error.status };
    if (error.field !== undefined) entry.field = error.field;
    if (error.data !== undefined) entry.data = error.data;
    this.sendJson(res, error.status, { errors: [entry] });
  }

  private sendRateLimited(res: ServerResponse, msBeforeNext: number): void {
    this.sendJson(res, 429, {
      errors: [
        {
          type: 'RequestError',
          message: 'Too many requests',
          data: { remainingPoints: 0, msBeforeNext, consumedPoints: this.consumed },
        },
      ],
    });
  }

  // ----- routes --------------------------------------------------------------------------------

  private requireSource(id: string): SourceRecord {
    const source = this.source(id);
    if (!source) throw notFound(`Source ${id}`);
    return source;
  }

  private nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}${String(this.idCounter).padStart(6, '0')}`;
  }

  private buildRoutes(): Route[] {
    const s = this.state;
    const route = (
      method: string,
      pattern: RegExp,
      handle: (ctx: RouteContext) => RouteResult,
      version: ApiVersion = 'stable',
    ): Route => ({ method, pattern, handle, version, write: method !== 'GET' });
    const ok = (data: unknown, status = 200): RouteResult => ({ status, data });
    const SEG = '([^/]+)';

    return [
      route('GET', /^\/$/, () => ok({ workspace: s.workspace })),

      // #1 List Sources
      route('GET', /^\/sources$/, ({ query }) => {
        const like = this.likeSegment;
        if (like && paginationParam(query, 'count') === null) query.set('pagination.count', String(like.pageCount ?? 2));
        const { page, pagination } = paginate(s.sources, query);
        const view = (source: SourceRecord) => (like && !like.sourceAdmin ? { ...sourceView(source), writeKeys: [] } : sourceView(source));
        return ok({ sources: page.map(view), pagination });
      }),

      // #15 Create Source
      route('POST', /^\/sources$/, ({ body }) => {
        const obj = asObject(body);
        rejectUnknownFields(obj, ['slug', 'enabled', 'metadataId', 'settings', 'disconnectAllWarehouses']);
        if (typeof obj.slug !== 'string' || obj.slug === '') throw invalid('slug', 'slug is required');
        if (typeof obj.enabled !== 'boolean') throw invalid('enabled', 'enabled is required and must be a boolean');
        if (typeof obj.metadataId !== 'string' || obj.metadataId === '') throw invalid('metadataId', 'metadataId is required');
        if (s.sources.some((source) => source.slug === obj.slug)) throw new ApiError(409, 'conflict', `slug ${obj.slug} is taken`);
        const source: SourceRecord = {
          id: this.nextId('src_'),
          slug: obj.slug,
          name: obj.slug,
          workspaceId: s.workspace.id,
          enabled: obj.enabled,
          writeKeys: [this.newWriteKey()],
          settings: obj.settings === undefined ? {} : asObject(obj.settings, 'settings'),
          labels: [],
          metadata: { ...DEFAULT_SOURCE_METADATA, id: obj.metadataId },
          schemaSettings: structuredClone(DEFAULT_SCHEMA_SETTINGS),
        };
        s.sources.push(source);
        return ok({ source: sourceView(source) }, 201);
      }),

      // #2 Get Source
      route('GET', new RegExp(`^/sources/${SEG}$`), ({ params }) =>
        ok({ source: sourceView(this.requireSource(params[0]!)), trackingPlanId: null }),
      ),

      // #3 Update Source
      route('PATCH', new RegExp(`^/sources/${SEG}$`), ({ params, body }) => {
        const source = this.requireSource(params[0]!);
        const obj = asObject(body);
        rejectUnknownFields(obj, ['name', 'enabled', 'slug', 'settings']);
        if (obj.name !== undefined && typeof obj.name !== 'string') throw invalid('name', 'name must be a string');
        if (obj.enabled !== undefined && typeof obj.enabled !== 'boolean') throw invalid('enabled', 'enabled must be a boolean');
        if (obj.slug !== undefined && (typeof obj.slug !== 'string' || !/^[a-z0-9_-]+$/.test(obj.slug))) {
          throw invalid('slug', 'slug must be lower-case letters, digits, _ or -');
        }
        if (obj.slug !== undefined && s.sources.some((other) => other.id !== source.id && other.slug === obj.slug)) {
          throw new ApiError(409, 'conflict', `slug ${String(obj.slug)} is taken`);
        }
        const settings = obj.settings === undefined ? undefined : asObject(obj.settings, 'settings');
        if (obj.name !== undefined) source.name = obj.name as string;
        if (obj.enabled !== undefined) source.enabled = obj.enabled as boolean;
        if (obj.slug !== undefined) source.slug = obj.slug as string;
        if (settings !== undefined) source.settings = structuredClone(settings);
        return ok({ source: sourceView(source) });
      }),

      // #4 Delete Source
      route('DELETE', new RegExp(`^/sources/${SEG}$`), ({ params }) => {
        const source = this.requireSource(params[0]!);
        s.sources.splice(s.sources.indexOf(source), 1);
        s.destinations = s.destinations.filter((destination) => destination.sourceId !== source.id);
        for (const warehouse of s.warehouses) warehouse.sourceIds = warehouse.sourceIds.filter((id) => id !== source.id);
        return ok({ status: 'SUCCESS' });
      }),

      // #5 Add Labels to Source
      route('POST', new RegExp(`^/sources/${SEG}/labels$`), ({ params, body }) => {
        const source = this.requireSource(params[0]!);
        const labels = this.workspaceLabels(body);
        for (const label of labels) if (!source.labels.some((have) => sameLabel(have, label))) source.labels.push(label);
        return ok({ labels: source.labels.map((label) => ({ ...label })) });
      }),

      // #5b Replace Labels in Source
      route('PUT', new RegExp(`^/sources/${SEG}/labels$`), ({ params, body }) => {
        const source = this.requireSource(params[0]!);
        source.labels = this.workspaceLabels(body);
        return ok({ labels: source.labels.map((label) => ({ ...label })) });
      }),

      // #6 List Connected Warehouses from Source
      route('GET', new RegExp(`^/sources/${SEG}/connected-warehouses$`), ({ params, query }) => {
        const source = this.requireSource(params[0]!);
        const connected = s.warehouses.filter((warehouse) => warehouse.sourceIds.includes(source.id));
        const { page, pagination } = paginate(connected, query);
        return ok({ warehouses: page.map(warehouseView), pagination });
      }),

      // #6b List Connected Destinations from Source
      route('GET', new RegExp(`^/sources/${SEG}/connected-destinations$`), ({ params, query }) => {
        const source = this.requireSource(params[0]!);
        const connected = s.destinations.filter((destination) => destination.sourceId === source.id);
        const { page, pagination } = paginate(connected, query);
        return ok({ destinations: page.map((destination) => structuredClone(destination)), pagination });
      }),

      // #7 List Schema Settings in Source
      route('GET', new RegExp(`^/sources/${SEG}/settings$`), ({ params }) => {
        const source = this.requireSource(params[0]!);
        return ok({ sourceId: source.id, settings: structuredClone(source.schemaSettings) });
      }),

      // #7b Update Schema Settings in Source
      route('PATCH', new RegExp(`^/sources/${SEG}/settings$`), ({ params, body }) => {
        const source = this.requireSource(params[0]!);
        const obj = asObject(body);
        rejectUnknownFields(obj, ['track', 'identify', 'group', 'forwardingViolationsTo', 'forwardingBlockedEventsTo']);
        for (const field of ['forwardingViolationsTo', 'forwardingBlockedEventsTo']) {
          // Docs: to disable forwarding omit the field; sending an empty value errors.
          if (field in obj && (typeof obj[field] !== 'string' || obj[field] === '')) {
            throw invalid(field, `${field} must be a source id; omit it to disable forwarding`);
          }
        }
        source.schemaSettings = { ...source.schemaSettings, ...structuredClone(obj) };
        return ok({ sourceId: source.id, settings: structuredClone(source.schemaSettings) });
      }),

      // #8 Create Write Key for Source (alpha only)
      route(
        'POST',
        new RegExp(`^/sources/${SEG}/writekey$`),
        ({ params }) => {
          const source = this.requireSource(params[0]!);
          source.writeKeys.push(this.newWriteKey());
          return ok({ source: sourceView(source) });
        },
        'alpha',
      ),

      // #9 Remove Write Key from Source (alpha only)
      route(
        'DELETE',
        new RegExp(`^/sources/${SEG}/writekey/${SEG}$`),
        ({ params }) => {
          const source = this.requireSource(params[0]!);
          const index = source.writeKeys.indexOf(params[1]!);
          if (index < 0) throw notFound('Write key');
          source.writeKeys.splice(index, 1);
          return ok({ status: 'SUCCESS' });
        },
        'alpha',
      ),

      // #10 Get Destination
      route('GET', new RegExp(`^/destinations/${SEG}$`), ({ params }) => {
        const destination = s.destinations.find((candidate) => candidate.id === params[0]);
        if (!destination) throw notFound(`Destination ${params[0]}`);
        return ok({ destination: structuredClone(destination) });
      }),

      // #11 List Delivery Metrics Summary from Destination (beta)
      route(
        'GET',
        new RegExp(`^/destinations/${SEG}/delivery-metrics$`),
        ({ params, query }) => {
          const destination = s.destinations.find((candidate) => candidate.id === params[0]);
          if (!destination) throw notFound(`Destination ${params[0]}`);
          const sourceId = query.get('sourceId');
          if (!sourceId) throw invalid('sourceId', 'sourceId is required');
          const granularity = query.get('granularity') ?? 'MINUTE';
          const window = METRIC_WINDOWS[granularity];
          if (!window) throw invalid('granularity', 'granularity must be MINUTE, HOUR or DAY');
          const now = this.now().getTime();
          const end = parseTime(query.get('endTime'), 'endTime') ?? now;
          const start = parseTime(query.get('startTime'), 'startTime') ?? end - window.defaultBackMs;
          if (start >= end) throw invalid('startTime', 'startTime must be before endTime');
          if (end - start > window.maxRangeMs) throw invalid('endTime', `the ${granularity} granularity allows at most ${window.maxRangeMs / HOUR} hours`);
          if (start < now - window.oldestMs) throw invalid('startTime', `the ${granularity} granularity reaches back at most ${window.oldestMs / HOUR} hours`);
          const seeded = s.deliveryMetrics.find((m) => m.destinationId === destination.id && m.sourceId === sourceId);
          return ok({
            deliveryMetricsSummary: {
              sourceId,
              destinationMetadataId: String(destination.metadata.id ?? ''),
              metrics: structuredClone(seeded?.metrics ?? []),
            },
          });
        },
        'beta',
      ),

      // #12 Create Label
      route('POST', /^\/labels$/, ({ body }) => {
        const obj = asObject(body);
        rejectUnknownFields(obj, ['label']);
        const label = parseLabel(obj.label, 'label');
        if (s.labels.some((have) => sameLabel(have, label))) {
          throw new ApiError(409, 'conflict', `label ${label.key}:${label.value} already exists`);
        }
        s.labels.push(label);
        return ok({ label: { ...label } }, 201);
      }),

      // #13 List Labels (no pagination)
      route('GET', /^\/labels$/, () => ok({ labels: s.labels.map((label) => ({ ...label })) })),

      // #13b Delete Label
      route('DELETE', new RegExp(`^/labels/${SEG}/${SEG}$`), ({ params }) => {
        const index = s.labels.findIndex((label) => label.key === params[0] && label.value === params[1]);
        if (index < 0) throw notFound(`Label ${params[0]}:${params[1]}`);
        s.labels.splice(index, 1);
        return ok({ status: 'SUCCESS' });
      }),

      // #14 Get Daily Per Source API Calls Usage
      route('GET', /^\/usage\/api-calls\/sources\/daily$/, ({ query }) => {
        const entries = this.usageInPeriod(parsePeriod(query.get('period'))).map((entry) => ({
          sourceId: entry.sourceId,
          apiCalls: String(entry.apiCalls),
          timestamp: entry.timestamp,
        }));
        const { page, pagination } = paginate(entries, query);
        return ok({ dailyPerSourceAPICallsUsage: page, pagination });
      }),

      // #14b Get Daily Workspace API Calls Usage
      route('GET', /^\/usage\/api-calls\/daily$/, ({ query }) => {
        const byDay = new Map<string, bigint>();
        for (const entry of this.usageInPeriod(parsePeriod(query.get('period')))) {
          byDay.set(entry.timestamp, (byDay.get(entry.timestamp) ?? 0n) + BigInt(entry.apiCalls));
        }
        const entries = [...byDay].map(([timestamp, calls]) => ({ apiCalls: calls.toString(), timestamp }));
        const { page, pagination } = paginate(entries, query);
        return ok({ dailyWorkspaceAPICallsUsage: page, pagination });
      }),
    ];
  }

  /** Labels of a #5/#5b body; each must already exist in the workspace (API.md #5: create first with #12). */
  private workspaceLabels(body: unknown): LabelRecord[] {
    const obj = asObject(body);
    rejectUnknownFields(obj, ['labels']);
    if (!Array.isArray(obj.labels)) throw invalid('labels', 'labels must be an array');
    return obj.labels.map((raw, index) => {
      const label = parseLabel(raw, `labels[${index}]`);
      const known = this.state.labels.find((have) => sameLabel(have, label));
      if (!known) throw invalid(`labels[${index}]`, `label ${label.key}:${label.value} does not exist in the workspace`);
      return { ...known };
    });
  }

  private usageInPeriod(start: Date): UsageRecord[] {
    const end = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
    return this.state.usage
      .filter((entry) => {
        const at = Date.parse(entry.timestamp);
        return at >= start.getTime() && at < end;
      })
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.sourceId.localeCompare(b.sourceId));
  }
}

function faultMatches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === 'string' ? match.path === path : match.path.test(path);
}

function sourceView(source: SourceRecord): Record<string, unknown> {
  const { schemaSettings: _schemaSettings, ...view } = source;
  return structuredClone(view);
}

function warehouseView(warehouse: WarehouseRecord): Record<string, unknown> {
  const { sourceIds: _sourceIds, ...view } = warehouse;
  return structuredClone(view);
}

function seedState(opts: PublicApiDoubleOptions): PublicApiDoubleState {
  const workspace = opts.workspace ?? { id: 'ws_test', slug: 'test-workspace', name: 'Test workspace' };
  return {
    workspace,
    sources: (opts.sources ?? []).map((seed) => ({
      slug: seed.id.toLowerCase().replace(/[^a-z0-9_-]/g, '-'),
      name: seed.id,
      workspaceId: workspace.id,
      enabled: true,
      writeKeys: [],
      settings: {},
      labels: [],
      metadata: { ...DEFAULT_SOURCE_METADATA },
      schemaSettings: structuredClone(DEFAULT_SCHEMA_SETTINGS),
      ...structuredClone(seed),
    })),
    destinations: (opts.destinations ?? []).map((seed) => ({
      name: seed.id,
      enabled: true,
      settings: {},
      metadata: { id: 'meta-webhooks', name: 'Webhooks', slug: 'webhooks' },
      ...structuredClone(seed),
    })),
    warehouses: (opts.warehouses ?? []).map(({ name, settings, ...seed }) => ({
      workspaceId: workspace.id,
      enabled: true,
      // WarehouseV1 has no name field: the app shows settings.name.
      settings: { ...(name ? { name } : {}), ...structuredClone(settings ?? {}) },
      metadata: { id: 'meta-postgres', name: 'Postgres', slug: 'postgres', description: '', logos: {}, options: [] },
      sourceIds: [],
      ...structuredClone(seed),
    })),
    labels: structuredClone(opts.labels ?? []),
    usage: structuredClone(opts.usage ?? []),
    deliveryMetrics: structuredClone(opts.deliveryMetrics ?? []),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
