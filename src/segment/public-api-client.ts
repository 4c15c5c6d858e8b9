/**
 * The one place that talks HTTP to Segment's Public API (management API, docs/segment-public-api.md).
 *
 * - One method per catalogue operation segflow uses. List calls follow cursor pagination to the end.
 * - Every request pins the API version in `Accept`: stable (`v1`) by default, beta for delivery metrics,
 *   alpha for the write-key endpoints, which exist only there.
 * - A non-2xx answer becomes the typed error public-api-errors.ts classifies; activities hand it to Temporal
 *   through public-api-failure.ts.
 * - The token lives in a private field, is only ever written into the Authorization header, and is scrubbed from
 *   every error message. Paths that embed a write key (#9) are shown redacted in errors.
 * - The client does not retry by itself: in activities Temporal retries with the delay this client computes, and
 *   the CLI reports the wait to the human.
 */
import { request, type Dispatcher } from 'undici';
import { classifyFailure, PublicApiNetworkError, PublicApiServerError } from './public-api-errors';
import type {
  DeliveryMetricsSummary,
  DestinationV1,
  Granularity,
  LabelV1,
  SchemaSettingsV1,
  SourceApiCallsUsage,
  SourceV1,
  UpdateSourceInput,
  WarehouseV1,
  WorkspaceApiCallsUsage,
} from './public-api-shapes';

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

  // ----- destinations ----------------------------------------------------------------------------

  /** #10 */
  async getDestination(destinationId: string): Promise<DestinationV1> {
    const data = await this.call<{ destination: DestinationV1 }>('GET', `/destinations/${enc(destinationId)}`);
    return data.destination;
  }

  /** #11 — beta. `sourceId` is required by the API; windows depend on granularity (docs/segment-public-api.md). */
  async getDeliveryMetrics(
    destinationId: string,
    params: { sourceId: string; startTime?: string; endTime?: string; granularity?: Granularity },
  ): Promise<DeliveryMetricsSummary> {
    const query = { ...params, ...(params.granularity === 'DAY' && !params.startTime ? { startTime: defaultDayWindowStart(params.endTime) } : {}) };
    const data = await this.call<{ deliveryMetricsSummary: DeliveryMetricsSummary }>('GET', `/destinations/${enc(destinationId)}/delivery-metrics`, {
      version: 'beta',
      query,
    });
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

  // ----- usage -----------------------------------------------------------------------------------

  /** #14 — `period` is the first day of the usage month (`2021-02-01`); counts are cumulative per day. */
  getDailySourceApiCalls(period: string): Promise<SourceApiCallsUsage[]> {
    return this.listAll<SourceApiCallsUsage>('/usage/api-calls/sources/daily', 'dailyPerSourceAPICallsUsage', { period });
  }

  /** #14b */
  getDailyWorkspaceApiCalls(period: string): Promise<WorkspaceApiCallsUsage[]> {
    return this.listAll<WorkspaceApiCallsUsage>('/usage/api-calls/daily', 'dailyWorkspaceAPICallsUsage', { period });
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
      throw new PublicApiNetworkError(
        'network',
        this.scrub(`Segment Public API ${method} ${shownPath} failed: ${err.code ?? 'network error'} ${err.message ?? ''}`.trim(), options.secrets),
        {
          method,
          path: shownPath,
        },
      );
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
      throw new PublicApiServerError(
        'server',
        `Segment Public API ${method} ${shownPath} answered ${response.statusCode} with a body that is not JSON`,
        {
          method,
          path: shownPath,
          status: response.statusCode,
        },
      );
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
