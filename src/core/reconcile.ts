/**
 * `segflow verify`: what a job sent per day against what Segment reports (docs/verify.md). Pure: the CLI fetches,
 * this file compares.
 */

export interface UsageEntry {
  sourceId: string;
  /** Cumulative within the usage month, as a decimal string (docs/segment-public-api.md, "API-call usage"). */
  apiCalls: string;
  timestamp: string;
}

export interface DayComparison {
  day: string;
  sent: number;
  /** API calls Segment counted for the source on that day; null when it has not reported the day (yet). */
  segmentApiCalls: number | null;
}

export type Verdict = 'consistent' | 'short' | 'incomplete';

export interface DestinationMetrics {
  id: string;
  name: string;
  delivered: number | null;
  failed: number | null;
  /** Why the numbers are missing, when they are. */
  note?: string;
}

/** `YYYY-MM-01` of a `YYYY-MM-DD` day: the usage period Segment reports it under. */
export function usagePeriod(day: string): string {
  return `${day.slice(0, 7)}-01`;
}

/**
 * Daily API calls of one source from Segment's daily *cumulative* usage: a day's calls are its cumulative count
 * minus the latest earlier one in the same month (zero on the month's first reported day). Keys are UTC days.
 */
export function dailyApiCalls(entries: readonly UsageEntry[], sourceId: string): Map<string, number> {
  const byDay = new Map<string, number>();
  for (const entry of entries) {
    if (entry.sourceId !== sourceId) continue;
    const at = Date.parse(entry.timestamp);
    const calls = Number(entry.apiCalls);
    if (!Number.isFinite(at) || !Number.isFinite(calls)) continue;
    byDay.set(new Date(at).toISOString().slice(0, 10), calls);
  }
  const daily = new Map<string, number>();
  let previousMonth = '';
  let previous = 0;
  for (const day of [...byDay.keys()].sort()) {
    const cumulative = byDay.get(day)!;
    if (day.slice(0, 7) !== previousMonth) previous = 0;
    daily.set(day, Math.max(0, cumulative - previous));
    previousMonth = day.slice(0, 7);
    previous = cumulative;
  }
  return daily;
}

/**
 * A day is consistent when Segment counted at least what the job sent, less the tolerance (a fraction). More is
 * expected whenever anything else sends to the source, so it is never a failure; less means events are missing, or
 * Segment has not finished counting the day.
 */
export function compareDays(
  sentByDay: Readonly<Record<string, number>>,
  segmentByDay: ReadonlyMap<string, number>,
  tolerance: number,
): { days: DayComparison[]; verdict: Verdict; shortDays: string[] } {
  const days: DayComparison[] = Object.keys(sentByDay)
    .sort()
    .map((day) => ({ day, sent: sentByDay[day]!, segmentApiCalls: segmentByDay.has(day) ? segmentByDay.get(day)! : null }));
  const shortDays = days.filter((d) => d.segmentApiCalls !== null && d.segmentApiCalls < Math.floor(d.sent * (1 - tolerance))).map((d) => d.day);
  const missing = days.some((d) => d.segmentApiCalls === null);
  const verdict: Verdict = shortDays.length > 0 ? 'short' : missing || days.length === 0 ? 'incomplete' : 'consistent';
  return { days, verdict, shortDays };
}

/**
 * Delivered and failed counts from a delivery-metrics summary. Segment does not document the metric names
 * (docs/segment-public-api.md, "Delivery metrics windows"), so names are matched by meaning; unknown names count as
 * neither.
 */
export function summariseDeliveryMetrics(metrics: ReadonlyArray<{ metricName: string; total: number }>): { delivered: number; failed: number } {
  let delivered = 0;
  let failed = 0;
  for (const metric of metrics) {
    const name = metric.metricName.toLowerCase();
    const total = Number.isFinite(metric.total) ? metric.total : 0;
    if (/success|deliver/.test(name)) delivered += total;
    else if (/fail|discard|reject|error|drop/.test(name)) failed += total;
  }
  return { delivered, failed };
}

/**
 * The delivery-metrics query for an import window: HOUR granularity reaches 7 days back with up to 7 days of range,
 * DAY 14 and 14 (docs/segment-public-api.md, "Delivery metrics windows"). Returns undefined when the window is older
 * than Segment keeps metrics.
 */
export function deliveryMetricsWindow(
  startedAt: string,
  endedAt: string,
  now: Date,
): { startTime: string; endTime: string; granularity: 'HOUR' | 'DAY' } | undefined {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const nowMs = now.getTime();
  for (const [granularity, unit, reach] of [
    ['HOUR', HOUR, 7 * DAY],
    ['DAY', DAY, 14 * DAY],
  ] as const) {
    const start = Math.floor(Date.parse(startedAt) / unit) * unit;
    const end = Math.min(Math.ceil((Date.parse(endedAt) + 1) / unit) * unit, nowMs);
    if (start < end && start >= nowMs - reach && end - start <= reach) {
      return { startTime: new Date(start).toISOString(), endTime: new Date(end).toISOString(), granularity };
    }
  }
  return undefined;
}
