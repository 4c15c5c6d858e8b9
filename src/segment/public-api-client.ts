/**
 * The one place that talks HTTP to Segment's Public API (management API, ../shared/segment/API.md §2).
 *
 * - One method per catalogue operation (§2.7). List calls follow cursor pagination to the end (§2.4).
 * - Every request pins the API version in `Accept` (§2.2): stable (`v1`) by default, beta for delivery metrics,
 *   alpha for the write-key endpoints, which exist only there.
 * - Failures are classified once, here, into typed errors (401/403 auth, 404 not found, 400/422 validation,
 *   429 rate limited with the wait the response asks for, 5xx and network retryable, other 4xx request errors);
 *   `toApplicationFailure` turns them into Temporal failures for activities.
 * - The token lives in a private field, is only ever written into the Authorization header, and is scrubbed from
 *   every error message. Paths that embed a write key (#9) are shown redacted in errors.
 * - The client does not retry by itself: in activities Temporal retries with the delay this client computes, and
 *   the CLI reports the wait to the human.
 */
import { ApplicationFailure } from '@temporalio/common';
import { request, type Dispatcher } from 'undici';
import { rateLimitDelayMs } from '../core/retry-policy';

// ---------------------------------------------------------------------------------------------
// Shapes (API.md §2.6): only the fields segflow reads are typed; the rest passes through.
// ---------------------------------------------------------------------------------------------

export interface LabelV1 {
  key: string;
  value: string;
  description?: string;
}

export interface SourceV1 {
  id: string;
  slug: string;
  name?: string;
  workspaceId: string;
  enabled: boolean;
  /** Empty when the token lacks the "source admin" permission. Secrets: never put them in workflow history. */
  writeKeys: string[];
  settings?: Record<string, unknown>;
  labels: LabelV1[];
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface DestinationV1 {
  id: string;
  name?: string;
  enabled: boolean;
  sourceId: string;
  settings: Record<string, unknown>;
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface WarehouseV1 {
  id: string;
  workspaceId: string;
  enabled: boolean;
  settings: Record<string, unknown>;
  metadata: { id: string; name: string; slug: string; [key: string]: unknown };
}

export interface SchemaSettingsV1 {
  track?: Record<string, unknown>;
  identify?: Record<string, unknown>;
  group?: Record<string, unknown>;
  forwardingViolationsTo?: string;
  forwardingBlockedEventsTo?: string;
}

export type Granularity = 'MINUTE' | 'HOUR' | 'DAY';

export interface DeliveryMetricsSummary {
  sourceId: string;
  destinationMetadataId: string;
  metrics: Array<{ metricName: string; total: number; breakdown?: Array<{ metricName: string; value: number }> }>;
}

export interface SourceApiCallsUsage {
  sourceId: string;
  /** A bigint as a decimal string; daily *cumulative* within the usage month. */
  apiCalls: string;
  timestamp: string;
}

export interface WorkspaceApiCallsUsage {
  apiCalls: string;
  timestamp: string;
}

export interface UpdateSourceInput {
  name?: string;
  enabled?: boolean;
  slug?: string;
  settings?: Record<string, unknown>;
}

export interface CreateSourceInput {
  slug: string;
  enabled: boolean;
  metadataId: string;
  settings?: Record<string, unknown>;
  disconnectAllWarehouses?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** One entry of the `{errors: [...]}` envelope (API.md §2.3). */
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
    this.name = 'PublicApiError';
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
  override readonly name = 'PublicApiAuthError';
}
export class PublicApiNotFoundError extends PublicApiError {
  override readonly name = 'PublicApiNotFoundError';
}
export class PublicApiValidationError extends PublicApiError {
  override readonly name = 'PublicApiValidationError';
}
export class PublicApiRateLimitError extends PublicApiError {
  override readonly name = 'PublicApiRateLimitError';
  get retryAfterMs(): number {
    return this.details.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS;
  }
}
export class PublicApiServerError extends PublicApiError {
  override readonly name = 'PublicApiServerError';
}
export class PublicApiRequestError extends PublicApiError {
  override readonly name = 'PublicApiRequestError';
}
export class PublicApiNetworkError extends PublicApiError {
  override readonly name = 'PublicApiNetworkError';
}

/** When a 429 says nothing usable about the wait: the rate-limit window is a minute (API.md §2.5). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
type Headers = Record<string, string | string[] | undefined>;

/**
 * How long a 429 asks us to wait, in ms: the body's `data.msBeforeNext` (the documented 429 body, API.md
 * §2.5), else the headers, read by the one rate-limit parser the Tracking API sender uses too
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
  const reasons = apiErrors
    .map((entry) => [entry.field ? `${entry.field}: ` : '', entry.message ?? entry.type].join(''))
    .join('; ');
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

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

export interface PublicApiClientOptions {
  /** API root, e.g. https://api.segmentapis.com (EU: https://eu1.api.segmentapis.com). */
  baseUrl: string;
  token: string;
  /** Page size for list calls (1..1000; default 200, the API's default). */
  pageSize?: number;
  timeoutMs?: number;
  /** Aborts every request of this client (activities pass their cancellation signal). */
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  userAgent?: string;
}

type ApiVersion = 'stable' | 'beta' | 'alpha';

const ACCEPT: Record<ApiVersion, string> = {
  stable: 'application/vnd.segment.v1+json',
  beta: 'application/vnd.segment.v1beta+json',
  alpha: 'application/vnd.segment.v1alpha+json',
};

interface CallOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  version?: ApiVersion;
  /** Shown in errors instead of the real path when the path holds a secret. */
  displayPath?: string;
  /** Values scrubbed from every error message of this call (besides the token). */
  secrets?: string[];
}

interface PaginationOutput {
  current?: string;
  next?: string | null;
  previous?: string | null;
  totalEntries?: number;
}

/** A safety stop for a server that hands out cursors forever. */
const MAX_PAGES = 10_000;

const enc = encodeURIComponent;

export class PublicApiClient {
  readonly baseUrl: string;
  readonly #token: string;
  private readonly pageSize: number;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly userAgent: string;

  constructor(options: PublicApiClientOptions) {
    if (!options.token) throw new Error('PublicApiClient needs a token');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.pageSize = options.pageSize ?? 200;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > 1000) {
      throw new RangeError(`pageSize must be an integer in 1..1000, got ${options.pageSize}`);
    }
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.signal = options.signal;
    this.dispatcher = options.dispatcher;
    this.userAgent = options.userAgent ?? 'segflow/0.1';
  }

  // ----- sources ---------------------------------------------------------------------------------

  /** #1 */
  listSources(): Promise<SourceV1[]> {
    return this.listAll<SourceV1>('/sources', 'sources');
  }

  /** #2 */
  async getSource(sourceId: string): Promise<{ source: SourceV1; trackingPlanId: string | null }> {
    return this.call('GET', `/sources/${enc(sourceId)}`);
  }

  /** #3 */
  async updateSource(sourceId: string, patch: UpdateSourceInput): Promise<SourceV1> {
    const data = await this.call<{ source: SourceV1 }>('PATCH', `/sources/${enc(sourceId)}`, { body: patch });
    return data.source;
  }

  /** #4 — irreversible. */
  async deleteSource(sourceId: string): Promise<void> {
    await this.call('DELETE', `/sources/${enc(sourceId)}`);
  }

  /** #5 — labels must exist in the workspace; returns every label now on the source. */
  async addLabelsToSource(sourceId: string, labels: LabelV1[]): Promise<LabelV1[]> {
    const data = await this.call<{ labels: LabelV1[] }>('POST', `/sources/${enc(sourceId)}/labels`, { body: { labels } });
    return data.labels;
  }

  /** #5b */
  async replaceLabelsInSource(sourceId: string, labels: LabelV1[]): Promise<LabelV1[]> {
    const data = await this.call<{ labels: LabelV1[] }>('PUT', `/sources/${enc(sourceId)}/labels`, { body: { labels } });
    return data.labels;
  }

  /** #6 */
  listConnectedWarehouses(sourceId: string): Promise<WarehouseV1[]> {
    return this.listAll<WarehouseV1>(`/sources/${enc(sourceId)}/connected-warehouses`, 'warehouses');
  }

  /** #6b */
  listConnectedDestinations(sourceId: string): Promise<DestinationV1[]> {
    return this.listAll<DestinationV1>(`/sources/${enc(sourceId)}/connected-destinations`, 'destinations');
  }

  /** #7 */
  async getSchemaSettings(sourceId: string): Promise<{ sourceId: string; settings: SchemaSettingsV1 }> {
    return this.call('GET', `/sources/${enc(sourceId)}/settings`);
  }

  /** #7b — omit a forwarding field to disable forwarding (sending an empty value is an error). */
  async updateSchemaSettings(sourceId: string, settings: SchemaSettingsV1): Promise<{ sourceId: string; settings: SchemaSettingsV1 }> {
    return this.call('PATCH', `/sources/${enc(sourceId)}/settings`, { body: settings });
  }

  /** #8 — alpha only. The new key appears in `writeKeys` of the returned source. */
  async createWriteKey(sourceId: string): Promise<SourceV1> {
    const data = await this.call<{ source: SourceV1 }>('POST', `/sources/${enc(sourceId)}/writekey`, { version: 'alpha' });
    return data.source;
  }

  /** #9 — alpha only; the key itself is the path parameter, so it is redacted from errors. */
  async removeWriteKey(sourceId: string, writeKey: string): Promise<void> {
    await this.call('DELETE', `/sources/${enc(sourceId)}/writekey/${enc(writeKey)}`, {
      version: 'alpha',
      displayPath: `/sources/${enc(sourceId)}/writekey/{redacted}`,
      secrets: [writeKey, enc(writeKey)],
    });
  }

  /** #15 */
  async createSource(input: CreateSourceInput): Promise<SourceV1> {
    const data = await this.call<{ source: SourceV1 }>('POST', '/sources', { body: input });
    return data.source;
  }

  // ----- destinations ----------------------------------------------------------------------------

  /** #10 */
  async getDestination(destinationId: string): Promise<DestinationV1> {
    const data = await this.call<{ destination: DestinationV1 }>('GET', `/destinations/${enc(destinationId)}`);
    return data.destination;
  }

  /** #11 — beta. `sourceId` is required by the API; windows depend on granularity (API.md §2.7). */
  async getDeliveryMetrics(
    destinationId: string,
    params: { sourceId: string; startTime?: string; endTime?: string; granularity?: Granularity },
  ): Promise<DeliveryMetricsSummary> {
    const query = { ...params, ...(params.granularity === 'DAY' && !params.startTime ? { startTime: defaultDayWindowStart(params.endTime) } : {}) };
    const data = await this.call<{ deliveryMetricsSummary: DeliveryMetricsSummary }>(
      'GET',
      `/destinations/${enc(destinationId)}/delivery-metrics`,
      { version: 'beta', query },
    );
    return data.deliveryMetricsSummary;
  }

  // ----- labels ----------------------------------------------------------------------------------

  /** #12 — 60 requests/minute. */
  async createLabel(label: LabelV1): Promise<LabelV1> {
    const data = await this.call<{ label: LabelV1 }>('POST', '/labels', { body: { label } });
    return data.label;
  }

  /** #13 — not paginated. */
  async listLabels(): Promise<LabelV1[]> {
    const data = await this.call<{ labels: LabelV1[] }>('GET', '/labels');
    return data.labels;
  }

  /** #13b — 60 requests/minute. */
  async deleteLabel(key: string, value: string): Promise<void> {
    await this.call('DELETE', `/labels/${enc(key)}/${enc(value)}`);
  }

  // ----- usage -----------------------------------------------------------------------------------

  /** #14 — `period` is the first day of the usage month (`2021-02-01`); counts are cumulative per day. */
  getDailySourceApiCalls(period: string): Promise<SourceApiCallsUsage[]> {
    return this.listAll<SourceApiCallsUsage>('/usage/api-calls/sources/daily', 'dailyPerSourceAPICallsUsage', { period });
  }

  /** #14b */
  getDailyWorkspaceApiCalls(period: string): Promise<WorkspaceApiCallsUsage[]> {
    return this.listAll<WorkspaceApiCallsUsage>('/usage/api-calls/daily', 'dailyWorkspaceAPICallsUsage', { period });
  }

  /** Sanity call: `GET /`. */
  async getWorkspace(): Promise<{ id: string; slug: string; name: string }> {
    const data = await this.call<{ workspace: { id: string; slug: string; name: string } }>('GET', '/');
    return data.workspace;
  }

  // ----- plumbing --------------------------------------------------------------------------------

  private async listAll<T>(path: string, key: string, query: Record<string, string> = {}): Promise<T[]> {
    const items: T[] = [];
    const seenCursors = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const data = await this.call<Record<string, unknown> & { pagination?: PaginationOutput }>('GET', path, {
        query: { ...query, 'pagination.count': String(this.pageSize), 'pagination.cursor': cursor },
      });
      const pageItems = data[key];
      if (!Array.isArray(pageItems)) {
        throw new PublicApiServerError('server', `Segment Public API GET ${path}: answer has no "${key}" list`, { method: 'GET', path });
      }
      items.push(...(pageItems as T[]));
      const next = data.pagination?.next;
      if (!next) return items;
      if (seenCursors.has(next)) {
        throw new PublicApiServerError('server', `Segment Public API GET ${path}: pagination cursor repeats`, { method: 'GET', path });
      }
      seenCursors.add(next);
      cursor = next;
    }
    throw new PublicApiServerError('server', `Segment Public API GET ${path}: more than ${MAX_PAGES} pages`, { method: 'GET', path });
  }

  private async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, value);
    }
    const shownPath = options.displayPath ?? path;
    const headers: Record<string, string> = {
      accept: ACCEPT[options.version ?? 'stable'],
      authorization: `Bearer ${this.#token}`,
      'user-agent': this.userAgent,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal: this.signal,
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      // A cancelled activity must surface as the abort it is, not as a retryable network error.
      if (this.signal?.aborted) throw error;
      const err = error as { code?: string; message?: string };
      throw new PublicApiNetworkError('network', this.scrub(`Segment Public API ${method} ${shownPath} failed: ${err.code ?? 'network error'} ${err.message ?? ''}`.trim(), options.secrets), {
        method,
        path: shownPath,
      });
    }
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const failure = classifyFailure(response.statusCode, response.headers, text, { method, path: shownPath }, Date.now());
      failure.message = this.scrub(failure.message, options.secrets);
      throw failure;
    }
    let parsed: { data?: unknown };
    try {
      parsed = JSON.parse(text) as { data?: unknown };
    } catch {
      throw new PublicApiServerError('server', `Segment Public API ${method} ${shownPath} answered ${response.statusCode} with a body that is not JSON`, {
        method,
        path: shownPath,
        status: response.statusCode,
      });
    }
    return (parsed.data ?? {}) as T;
  }

  /** Defence in depth: whatever a server echoes back, the token never leaves in a message. */
  private scrub(message: string, secrets: string[] = []): string {
    let text = message;
    for (const secret of [this.#token, ...secrets]) if (secret) text = text.split(secret).join('***');
    return text;
  }
}

/** The DAY granularity's window: at most 14 days long and at most 14 days back (docs/segment-public-api.md). */
export const DAY_METRICS_WINDOW_MS = 14 * 24 * 60 * 60 * 1000;
/** Slack for the clock difference between us and Segment, so "14 days back" is still inside their window. */
const WINDOW_MARGIN_MS = 10 * 60 * 1000;

/**
 * The start to send for DAY metrics without one: the API's own default (30 days back) is outside the 14 days it
 * allows, so a request without a start is refused. The latest of "14 days before the end" and "14 days ago".
 */
export function defaultDayWindowStart(endTime?: string, now = Date.now()): string {
  const end = endTime ? Date.parse(endTime) : now;
  return new Date(Math.max(end, now) - DAY_METRICS_WINDOW_MS + WINDOW_MARGIN_MS).toISOString();
}
