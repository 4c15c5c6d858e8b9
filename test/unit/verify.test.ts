/**
 * `segflow verify` against the Public API double: realistic daily cumulative usage (other traffic on the source,
 * a month boundary, a short day, a day not reported yet) and delivery metrics per connected destination.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeForVerdict, formatVerifyReport, verifyJob } from '../../src/cli/verify-command';
import { compareDays, dailyApiCalls, deliveryMetricsWindow, summariseDeliveryMetrics } from '../../src/core/reconcile';
import { PublicApiClient } from '../../src/segment/public-api-client';
import { PublicApiDouble, type UsageRecord } from '../support/public-api-double';

const TOKEN = 'sgp_verify_token';
const WRITE_KEY = 'wk-verify-source-0001';
const now = new Date('2026-03-02T12:00:00.000Z');

/** Cumulative per source within each month, as Segment reports it (docs/segment-public-api.md, "API-call usage"). */
function cumulative(sourceId: string, daily: Array<[string, number]>): Array<UsageRecord & { apiCalls: string }> {
  let month = '';
  let total = 0;
  return daily.map(([day, calls]) => {
    if (day.slice(0, 7) !== month) total = 0;
    month = day.slice(0, 7);
    total += calls;
    return { sourceId, apiCalls: String(total), timestamp: `${day}T00:00:00Z` };
  });
}

let double: PublicApiDouble;
let api: PublicApiClient;

beforeAll(async () => {
  double = await PublicApiDouble.start({
    token: TOKEN,
    now: () => now,
    sources: [
      { id: 'src_other', writeKeys: ['wk-someone-else'] },
      { id: 'src_backfill', name: 'Backfill', writeKeys: [WRITE_KEY] },
    ],
    destinations: [
      { id: 'dst_amp', sourceId: 'src_backfill', name: 'Amplitude' },
      { id: 'dst_wh', sourceId: 'src_backfill', name: 'Webhook' },
    ],
    usage: [
      ...cumulative('src_other', [
        ['2026-02-27', 999_999],
        ['2026-02-28', 5],
      ]),
      // Daily calls (made cumulative): Feb 27 is 120,000 from segflow + 1,234 from the live site; Feb 28 is short of
      // what the second case sends; Mar 1 starts a new usage period.
      ...cumulative('src_backfill', [
        ['2026-02-26', 800],
        ['2026-02-27', 121_234],
        ['2026-02-28', 70_000],
        ['2026-03-01', 50_100],
      ]),
    ],
    deliveryMetrics: [
      {
        destinationId: 'dst_amp',
        sourceId: 'src_backfill',
        metrics: [
          { metricName: 'successes', total: 239_000 },
          { metricName: 'discarded', total: 1_000 },
        ],
      },
      {
        destinationId: 'dst_wh',
        sourceId: 'src_backfill',
        metrics: [
          { metricName: 'delivered', total: 150_000 },
          { metricName: 'failed', total: 12 },
        ],
      },
    ],
  });
  api = new PublicApiClient({ baseUrl: double.url, token: TOKEN });
});

afterAll(async () => {
  await double?.stop();
});

function importStatus(sentByDay: Record<string, number>) {
  return {
    jobId: 'import-default-0123456789abcdef',
    kind: 'import',
    state: 'completed',
    source: 'default',
    sentByDay,
    startedAt: '2026-02-27T08:00:00.000Z',
    updatedAt: '2026-03-01T09:30:00.000Z',
  };
}

describe('segflow verify', () => {
  it('is consistent when Segment counted at least what was sent each day, finding the source by its write key', async () => {
    const report = await verifyJob({
      status: importStatus({ '2026-02-27': 120_000, '2026-03-01': 50_000 }),
      api,
      writeKey: WRITE_KEY,
      tolerance: 0.01,
      now,
    });
    expect(report.source).toBe('src_backfill');
    expect(report.days).toEqual([
      { day: '2026-02-27', sent: 120_000, segmentApiCalls: 121_234 },
      { day: '2026-03-01', sent: 50_000, segmentApiCalls: 50_100 },
    ]);
    expect(report.destinations).toEqual([
      { id: 'dst_amp', name: 'Amplitude', delivered: 239_000, failed: 1_000 },
      { id: 'dst_wh', name: 'Webhook', delivered: 150_000, failed: 12 },
    ]);
    expect(report.verdict).toBe('consistent');
    expect(exitCodeForVerdict(report.verdict)).toBe(0);
    // The JSON contract of the issue, with plain words on what it cannot prove.
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['jobId', 'source', 'days', 'destinations', 'verdict']));
    expect(report.caveats.join(' ')).toMatch(/from any sender/);
    expect(report.caveats.join(' ')).toMatch(/delay/);
    // The metrics window was asked at HOUR granularity, within what the API allows.
    const metricsCall = double.requestLog().find((r) => r.path.includes('/delivery-metrics'));
    const query = Object.fromEntries(new URL(metricsCall!.url, double.url).searchParams);
    expect(query).toMatchObject({
      sourceId: 'src_backfill',
      granularity: 'HOUR',
      startTime: '2026-02-27T08:00:00.000Z',
      endTime: '2026-03-01T10:00:00.000Z',
    });
    expect(metricsCall!.status).toBe(200);
  });

  it('says short, with a failing exit code, when Segment counted fewer calls than were sent on a day', async () => {
    const report = await verifyJob({
      status: importStatus({ '2026-02-27': 120_000, '2026-02-28': 70_000 + 5_000, '2026-03-01': 50_000 }),
      api,
      sourceId: 'src_backfill',
      tolerance: 0.01,
      now,
    });
    expect(report.days.find((d) => d.day === '2026-02-28')).toEqual({ day: '2026-02-28', sent: 75_000, segmentApiCalls: 70_000 });
    expect(report.verdict).toBe('short');
    expect(exitCodeForVerdict(report.verdict)).toBe(1);
    const text = formatVerifyReport(report);
    expect(text).toMatch(/2026-02-28\s+75000\s+70000\s+SHORT/);
    expect(text).toMatch(/verdict: short/);
    expect(report.caveats[0]).toMatch(/fewer API calls than segflow sent on 2026-02-28/);
  });

  it('says incomplete while Segment has not reported a day yet', async () => {
    const report = await verifyJob({ status: importStatus({ '2026-03-02': 10 }), api, sourceId: 'src_backfill', tolerance: 0, now });
    expect(report.days).toEqual([{ day: '2026-03-02', sent: 10, segmentApiCalls: null }]);
    expect(report.verdict).toBe('incomplete');
    expect(exitCodeForVerdict(report.verdict)).toBe(1);
  });

  it('asks for --source-id when no listed source has the write key', async () => {
    await expect(verifyJob({ status: importStatus({ '2026-02-27': 1 }), api, writeKey: 'wk-unknown', tolerance: 0, now })).rejects.toThrow(
      /pass --source-id/,
    );
  });
});

describe('reconcile helpers', () => {
  it('turns cumulative usage into daily counts, restarting each month', () => {
    const daily = dailyApiCalls(
      cumulative('s', [
        ['2026-01-30', 10],
        ['2026-01-31', 5],
        ['2026-02-01', 7],
        ['2026-02-03', 1],
      ]),
      's',
    );
    expect([...daily]).toEqual([
      ['2026-01-30', 10],
      ['2026-01-31', 5],
      ['2026-02-01', 7],
      ['2026-02-03', 1],
    ]);
  });

  it('allows the tolerance below the sent count and any amount above', () => {
    const usage = new Map([
      ['d1', 990],
      ['d2', 5000],
    ]);
    expect(compareDays({ d1: 1000, d2: 1000 }, usage, 0.01).verdict).toBe('consistent');
    expect(compareDays({ d1: 1000, d2: 1000 }, usage, 0.005).verdict).toBe('short');
  });

  it('reads delivered and failed counts by metric meaning', () => {
    expect(
      summariseDeliveryMetrics([
        { metricName: 'successes', total: 5 },
        { metricName: 'retried', total: 3 },
        { metricName: 'Failed', total: 2 },
      ]),
    ).toEqual({ delivered: 5, failed: 2 });
  });

  it('picks a delivery-metrics window the API accepts, or none when the import is too old', () => {
    expect(deliveryMetricsWindow('2026-03-01T00:10:00Z', '2026-03-01T02:00:00Z', now)).toEqual({
      startTime: '2026-03-01T00:00:00.000Z',
      endTime: '2026-03-01T03:00:00.000Z',
      granularity: 'HOUR',
    });
    expect(deliveryMetricsWindow('2026-02-20T00:10:00Z', '2026-02-21T02:00:00Z', now)?.granularity).toBe('DAY');
    expect(deliveryMetricsWindow('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', now)).toBeUndefined();
  });
});
