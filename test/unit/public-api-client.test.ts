import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PublicApiClient } from '../../src/segment/public-api-client';
import {
  classifyFailure,
  PublicApiAuthError,
  PublicApiError,
  PublicApiNetworkError,
  PublicApiNotFoundError,
  PublicApiRateLimitError,
  PublicApiRequestError,
  PublicApiServerError,
  PublicApiValidationError,
  rateLimitWaitMs,
} from '../../src/segment/public-api-errors';
import { toApplicationFailure } from '../../src/segment/public-api-failure';
import { encodeCursor, PublicApiDouble, requestedApiVersion } from '../support/public-api-double';
import { publicApiTestCalls } from '../support/public-api-test-calls';
import { FailureType } from '../../src/contracts/failures';

const TOKEN = 'sgp_unit_token_value_1234567890';
const NOW = Date.parse('2024-05-01T08:00:00.000Z');

describe('classifyFailure', () => {
  const cases: Array<[number, new (...args: never[]) => PublicApiError, boolean]> = [
    [400, PublicApiValidationError, false],
    [401, PublicApiAuthError, false],
    [403, PublicApiAuthError, false],
    [404, PublicApiNotFoundError, false],
    [409, PublicApiRequestError, false],
    [413, PublicApiRequestError, false],
    [422, PublicApiValidationError, false],
    [429, PublicApiRateLimitError, true],
    [500, PublicApiServerError, true],
    [502, PublicApiServerError, true],
    [503, PublicApiServerError, true],
  ];
  it.each(cases)('%i -> %o (retryable %s)', (status, errorClass, retryable) => {
    const error = classifyFailure(status, {}, '{"errors":[{"type":"x","message":"boom","field":"name"}]}', { method: 'GET', path: '/p' }, NOW);
    expect(error).toBeInstanceOf(errorClass);
    expect(error.retryable).toBe(retryable);
    expect(error.status).toBe(status);
    expect(error.message).toContain('GET /p answered');
    expect(error.message).toContain('name: boom');
  });

  it('keeps a non-JSON error body as text', () => {
    const error = classifyFailure(502, {}, '<html>Bad gateway</html>', { method: 'GET', path: '/p' }, NOW);
    expect(error.details.apiErrors).toEqual([{ type: 'unparsed', message: '<html>Bad gateway</html>' }]);
  });
});

describe('rateLimitWaitMs', () => {
  const body = (msBeforeNext: unknown) => [{ type: 'RequestError', data: { remainingPoints: 0, msBeforeNext, consumedPoints: 21 } }];
  const cases: Array<[string, ReturnType<typeof body> | [], Record<string, string>, number]> = [
    ['msBeforeNext from the body wins', body(57647), { 'x-ratelimit-reset': 'Wed, 01 May 2024 08:05:00 GMT' }, 57647],
    ['RFC 5322 reset date', [], { 'x-ratelimit-reset': 'Wed, 01 May 2024 08:01:00 GMT' }, 60_000],
    ['reset date in the past waits the 1 s minimum', [], { 'x-ratelimit-reset': 'Wed, 01 May 2024 07:00:00 GMT' }, 1_000],
    ['small number = seconds', [], { 'x-ratelimit-reset': '30' }, 30_000],
    ['epoch seconds', [], { 'x-ratelimit-reset': String(NOW / 1000 + 20) }, 20_000],
    ['epoch milliseconds', [], { 'x-ratelimit-reset': String(NOW + 5_000) }, 5_000],
    ['Retry-After seconds', [], { 'retry-after': '7' }, 7_000],
    ['nothing usable: one window', body('soon'), {}, 60_000],
    ['capped at 300 s, as Tracking API waits are', body(10 * 3_600_000), {}, 300_000],
  ];
  it.each(cases)('%s', (_name, entries, headers, expected) => {
    expect(rateLimitWaitMs(entries, headers, NOW)).toBe(expected);
  });
});

describe('toApplicationFailure', () => {
  it('makes 4xx non-retryable with the error class as type', () => {
    const failure = toApplicationFailure(classifyFailure(404, {}, '', { method: 'GET', path: '/sources/x' }, NOW));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect((failure as ApplicationFailure).type).toBe(FailureType.PublicApiNotFoundError);
  });

  it('makes 429 retryable after the wait Segment asked for', () => {
    const error = classifyFailure(
      429,
      {},
      JSON.stringify({ errors: [{ type: 'RequestError', data: { msBeforeNext: 1234 } }] }),
      { method: 'GET', path: '/' },
      NOW,
    );
    const failure = toApplicationFailure(error) as ApplicationFailure;
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(1234);
  });

  it('makes 5xx retryable without a fixed delay', () => {
    const failure = toApplicationFailure(classifyFailure(503, {}, '', { method: 'GET', path: '/' }, NOW)) as ApplicationFailure;
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBeUndefined();
  });

  it('leaves other errors alone', () => {
    const error = new Error('aborted');
    expect(toApplicationFailure(error)).toBe(error);
  });
});

describe('requestedApiVersion (double)', () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['application/json', undefined],
    ['*/*', undefined],
    ['application/vnd.segment.v1alpha+json', 'alpha'],
    ['application/vnd.segment.alpha+json', 'alpha'],
    ['application/vnd.segment.v1beta+json', 'beta'],
    ['application/vnd.segment.beta+json', 'beta'],
    ['application/vnd.segment.v1+json', 'stable'],
    ['application/vnd.segment.stable+json', 'stable'],
    ['application/json, application/vnd.segment.v1alpha+json;q=0.9', 'alpha'],
  ];
  it.each(cases)('%s -> %s', (accept, expected) => {
    expect(requestedApiVersion(accept)).toBe(expected);
  });
});

describe('PublicApiClient against the double', () => {
  let double: PublicApiDouble;
  let client: PublicApiClient;
  let testCalls: ReturnType<typeof publicApiTestCalls>;
  const sources = Array.from({ length: 450 }, (_, i) => ({
    id: `src_${String(i).padStart(3, '0')}`,
    name: `Source ${i}`,
    writeKeys: [`wk_secret_${i}`],
  }));

  beforeAll(async () => {
    double = await PublicApiDouble.start({
      token: TOKEN,
      sources,
      destinations: [{ id: 'dst_1', sourceId: 'src_000', name: 'Webhook' }],
      warehouses: [{ id: 'wh_1', sourceIds: ['src_000'], name: 'pg' }],
      labels: [{ key: 'env', value: 'prod' }],
      usage: [
        { sourceId: 'src_000', apiCalls: 10, timestamp: '2024-05-01T00:00:00.000Z' },
        { sourceId: 'src_000', apiCalls: 25, timestamp: '2024-05-02T00:00:00.000Z' },
        { sourceId: 'src_001', apiCalls: 3, timestamp: '2024-05-02T00:00:00.000Z' },
        { sourceId: 'src_000', apiCalls: 99, timestamp: '2024-04-30T00:00:00.000Z' },
      ],
      deliveryMetrics: [{ destinationId: 'dst_1', sourceId: 'src_000', metrics: [{ metricName: 'successes', total: 42 }] }],
    });
    client = new PublicApiClient({ baseUrl: double.url, token: TOKEN });
    testCalls = publicApiTestCalls(double.url, TOKEN);
  });
  afterAll(async () => {
    await double.stop();
  });
  afterEach(() => double.clearFaults());

  const raw = (path: string, init: RequestInit = {}) =>
    fetch(double.url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) } });

  it('follows cursor pagination to the end', async () => {
    const before = double.requestLog().length;
    const listed = await client.listSources();
    expect(listed.map((s) => s.id)).toEqual(sources.map((s) => s.id));
    const pages = double.requestLog().slice(before);
    expect(pages).toHaveLength(3);
    expect(pages.map((p) => new URL(p.url, 'http://x').searchParams.get('pagination.cursor'))).toEqual([null, encodeCursor(200), encodeCursor(400)]);
  });

  it('pages with a small page size too', async () => {
    const small = new PublicApiClient({ baseUrl: double.url, token: TOKEN, pageSize: 7 });
    expect(await small.listSources()).toHaveLength(450);
  });

  it('double: accepts both pagination query styles and defaults to 200 per page', async () => {
    const bracket = (await (await raw('/sources?pagination[count]=3&pagination[cursor]=' + encodeURIComponent(encodeCursor(3)))).json()) as {
      data: { sources: Array<{ id: string }>; pagination: Record<string, unknown> };
    };
    expect(bracket.data.sources.map((s) => s.id)).toEqual(['src_003', 'src_004', 'src_005']);
    expect(bracket.data.pagination).toMatchObject({ current: encodeCursor(3), next: encodeCursor(6), previous: encodeCursor(0), totalEntries: 450 });
    const dotted = (await (await raw('/sources?pagination.count=3')).json()) as { data: { sources: unknown[] } };
    expect(dotted.data.sources).toHaveLength(3);
    const defaulted = (await (await raw('/sources')).json()) as { data: { sources: unknown[]; pagination: { previous: unknown } } };
    expect(defaulted.data.sources).toHaveLength(200);
    expect(defaulted.data.pagination.previous).toBeNull();
    const tooBig = await raw('/sources?pagination.count=1001');
    expect(tooBig.status).toBe(422);
    expect(await raw('/sources?pagination.cursor=garbage')).toHaveProperty('status', 422);
  });

  it('double: every answer carries the rate-limit headers', async () => {
    const response = await raw('/labels');
    expect(response.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
    expect(response.headers.get('x-ratelimit-consumed')).toMatch(/^\d+$/);
    expect(Number.isNaN(Date.parse(response.headers.get('x-ratelimit-reset') ?? ''))).toBe(false);
  });

  it('reads a source, its warehouses, destinations and schema settings', async () => {
    const { source, trackingPlanId } = await client.getSource('src_000');
    expect(source).toMatchObject({ id: 'src_000', name: 'Source 0', enabled: true, writeKeys: ['wk_secret_0'] });
    expect(trackingPlanId).toBeNull();
    expect((await client.listConnectedWarehouses('src_000')).map((w) => w.id)).toEqual(['wh_1']);
    expect((await client.listConnectedDestinations('src_000')).map((d) => d.id)).toEqual(['dst_1']);
    expect((await client.getSchemaSettings('src_000')).settings.track).toMatchObject({ allowUnplannedEvents: true });
    expect((await client.getDestination('dst_1')).sourceId).toBe('src_000');
  });

  it('maps 404 to PublicApiNotFoundError', async () => {
    await expect(client.getSource('src_nope')).rejects.toBeInstanceOf(PublicApiNotFoundError);
    await expect(client.getDestination('dst_nope')).rejects.toBeInstanceOf(PublicApiNotFoundError);
  });

  it('maps a bad token to PublicApiAuthError without leaking either token', async () => {
    const wrong = new PublicApiClient({ baseUrl: double.url, token: 'sgp_wrong_token' });
    const error = await wrong.getSource('src_000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiAuthError);
    expect((error as Error).message).not.toContain('sgp_wrong_token');
    expect(inspect(wrong, { depth: 5, showHidden: true })).not.toContain('sgp_wrong_token');
    expect(JSON.stringify(wrong)).not.toContain('sgp_wrong_token');
  });

  it('asks for alpha on the write-key endpoints and redacts the key from errors', async () => {
    const created = await client.createWriteKey('src_010');
    expect(created.writeKeys).toHaveLength(2);
    const createRequest = double.requestLog().at(-1)!;
    expect(createRequest.accept).toBe('application/vnd.segment.v1alpha+json');
    const error = await client.removeWriteKey('src_010', 'wk_not_there').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiNotFoundError);
    expect((error as Error).message).not.toContain('wk_not_there');
    expect((error as PublicApiError).details.path).toBe('/sources/src_010/writekey/{redacted}');
    await client.removeWriteKey('src_010', 'wk_secret_10');
    expect(double.source('src_010')!.writeKeys).toEqual(created.writeKeys.slice(1));
  });

  it('double: write-key endpoints answer alpha and versionless requests, 404 for stable/beta', async () => {
    const post = (accept?: string) => raw('/sources/src_011/writekey', { method: 'POST', headers: accept ? { accept } : {} });
    expect((await post('application/vnd.segment.v1+json')).status).toBe(404);
    expect((await post('application/vnd.segment.beta+json')).status).toBe(404);
    expect((await post('application/vnd.segment.alpha+json')).status).toBe(200);
    expect((await post('application/json')).status).toBe(200);
    expect((await post()).status).toBe(200);
  });

  it('updates and deletes a source, and the audit log records both', async () => {
    const before = double.auditLog().length;
    const updated = await client.updateSource('src_020', { name: 'Renamed', enabled: false });
    expect(updated).toMatchObject({ name: 'Renamed', enabled: false });
    await client.deleteSource('src_021');
    await expect(client.getSource('src_021')).rejects.toBeInstanceOf(PublicApiNotFoundError);
    expect(
      double
        .auditLog()
        .slice(before)
        .map((e) => `${e.method} ${e.path}`),
    ).toEqual(['PATCH /sources/src_020', 'DELETE /sources/src_021']);
    expect(double.auditLog().at(-2)!.body).toEqual({ name: 'Renamed', enabled: false });
  });

  it('rejects an invalid update with PublicApiValidationError', async () => {
    const error = await client.updateSource('src_022', { enabled: 'yes' as unknown as boolean }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiValidationError);
    expect((error as PublicApiError).details.apiErrors?.[0]).toMatchObject({ field: 'enabled' });
  });

  it('creates, lists and deletes labels; adding an unknown label is a validation error', async () => {
    await expect(client.addLabelsToSource('src_030', [{ key: 'team', value: 'growth' }])).rejects.toBeInstanceOf(PublicApiValidationError);
    await client.createLabel({ key: 'team', value: 'growth' });
    await expect(client.createLabel({ key: 'team', value: 'growth' })).rejects.toBeInstanceOf(PublicApiRequestError);
    expect(await client.addLabelsToSource('src_030', [{ key: 'team', value: 'growth' }])).toEqual([{ key: 'team', value: 'growth' }]);
    expect(await testCalls.replaceLabelsInSource('src_030', [{ key: 'env', value: 'prod' }])).toEqual([{ key: 'env', value: 'prod' }]);
    expect((await client.listLabels()).map((l) => `${l.key}:${l.value}`)).toEqual(['env:prod', 'team:growth']);
    await testCalls.deleteLabel('team', 'growth');
    expect(await client.listLabels()).toHaveLength(1);
  });

  it('reads per-source and workspace API-call usage for a period', async () => {
    expect(await client.getDailySourceApiCalls('2024-05-01')).toEqual([
      { sourceId: 'src_000', apiCalls: '10', timestamp: '2024-05-01T00:00:00.000Z' },
      { sourceId: 'src_000', apiCalls: '25', timestamp: '2024-05-02T00:00:00.000Z' },
      { sourceId: 'src_001', apiCalls: '3', timestamp: '2024-05-02T00:00:00.000Z' },
    ]);
    expect(await client.getDailyWorkspaceApiCalls('2024-05-01')).toEqual([
      { apiCalls: '10', timestamp: '2024-05-01T00:00:00.000Z' },
      { apiCalls: '28', timestamp: '2024-05-02T00:00:00.000Z' },
    ]);
    await expect(client.getDailySourceApiCalls('2024-05-15')).rejects.toBeInstanceOf(PublicApiValidationError);
    expect((await raw('/usage/api-calls/sources/daily')).status).toBe(422);
  });

  it('reads delivery metrics (beta) and enforces sourceId and the window rules', async () => {
    const summary = await client.getDeliveryMetrics('dst_1', { sourceId: 'src_000', granularity: 'HOUR' });
    expect(summary).toEqual({ sourceId: 'src_000', destinationMetadataId: 'meta-webhooks', metrics: [{ metricName: 'successes', total: 42 }] });
    expect(double.requestLog().at(-1)!.accept).toBe('application/vnd.segment.v1beta+json');
    const missing = await raw('/destinations/dst_1/delivery-metrics');
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ errors: [{ field: 'sourceId' }] });
    const start = new Date(Date.now() - 5 * 3_600_000).toISOString();
    await expect(client.getDeliveryMetrics('dst_1', { sourceId: 'src_000', granularity: 'MINUTE', startTime: start })).rejects.toBeInstanceOf(
      PublicApiValidationError,
    );
  });

  it('DAY metrics without a start: Segment defaults to 30 days back and refuses it; the client sends a start within 14 days', async () => {
    const bare = await raw('/destinations/dst_1/delivery-metrics?sourceId=src_000&granularity=DAY');
    expect(bare.status).toBe(422);
    const summary = await client.getDeliveryMetrics('dst_1', { sourceId: 'src_000', granularity: 'DAY' });
    expect(summary.metrics).toEqual([{ metricName: 'successes', total: 42 }]);
    const sent = new URL(double.requestLog().at(-1)!.url, 'http://x').searchParams.get('startTime');
    expect(Date.now() - Date.parse(sent!)).toBeLessThanOrEqual(14 * 86_400_000);
    expect(Date.now() - Date.parse(sent!)).toBeGreaterThan(13 * 86_400_000);
  });

  it('maps an injected 429 to PublicApiRateLimitError with msBeforeNext', async () => {
    double.injectFaults({ kind: 'rate-limit', msBeforeNext: 4321, match: { method: 'GET', path: '/labels' } });
    const error = await client.listLabels().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiRateLimitError);
    expect((error as PublicApiRateLimitError).retryAfterMs).toBe(4321);
    expect(await client.listLabels()).toBeInstanceOf(Array);
  });

  it('double: a real 429 comes when the window is used up', async () => {
    const tight = await PublicApiDouble.start({ token: TOKEN, rateLimitPoints: 2, rateLimitWindowMs: 60_000 });
    try {
      const tightClient = new PublicApiClient({ baseUrl: tight.url, token: TOKEN });
      await tightClient.listLabels();
      await tightClient.listLabels();
      const error = await tightClient.listLabels().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PublicApiRateLimitError);
      expect((error as PublicApiRateLimitError).retryAfterMs).toBeGreaterThan(50_000);
    } finally {
      await tight.stop();
    }
  });

  it('maps an injected 503 to a retryable PublicApiServerError', async () => {
    double.injectFaults({ kind: 'server-error', status: 503, match: { path: '/sources/src_000' } });
    const error = await client.getSource('src_000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiServerError);
    expect((error as PublicApiError).retryable).toBe(true);
  });

  it('maps a refused connection to PublicApiNetworkError', async () => {
    const closed = await PublicApiDouble.start({ token: TOKEN });
    const url = closed.url;
    await closed.stop();
    const error = await new PublicApiClient({ baseUrl: url, token: TOKEN }).listLabels().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublicApiNetworkError);
    expect((error as PublicApiError).retryable).toBe(true);
  });

  it('an aborted signal surfaces as an abort, not as a network error', async () => {
    const controller = new AbortController();
    double.injectFaults({ kind: 'hang', match: { path: '/labels' } });
    const aborting = new PublicApiClient({ baseUrl: double.url, token: TOKEN, signal: controller.signal });
    const pending = aborting.listLabels().catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    const error = await pending;
    expect(error).not.toBeInstanceOf(PublicApiError);
    expect((error as Error).name).toMatch(/Abort/);
  });

  it('creates a source (#15)', async () => {
    const source = await testCalls.createSource({ slug: 'new-source', enabled: true, metadataId: 'meta-http' });
    expect(source).toMatchObject({ slug: 'new-source', enabled: true });
    expect(source.writeKeys).toHaveLength(1);
    expect((await testCalls.getWorkspace()).id).toBe('ws_test');
  });
});
