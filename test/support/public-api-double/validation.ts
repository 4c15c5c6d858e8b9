/**
 * How the double refuses a request: the error it answers with (404, 422, ...) and the checks of bodies, labels,
 * usage periods and delivery-metrics windows that produce it.
 */
import type { LabelRecord } from './types';

export class ApiError extends Error {
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

export const notFound = (what: string) => new ApiError(404, 'not-found', `${what} not found`);
export const invalid = (field: string, message: string) => new ApiError(422, 'input-validation', message, field);

export function asObject(body: unknown, field = 'body'): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid(field, `${field} must be a JSON object`);
  return body as Record<string, unknown>;
}

export function rejectUnknownFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalid(key, `unknown field ${key}`);
  }
}

export function parseLabel(raw: unknown, field: string): LabelRecord {
  const obj = asObject(raw, field);
  if (typeof obj.key !== 'string' || obj.key === '') throw invalid(`${field}.key`, 'label key must be a non-empty string');
  if (typeof obj.value !== 'string' || obj.value === '') throw invalid(`${field}.value`, 'label value must be a non-empty string');
  if (obj.description !== undefined && typeof obj.description !== 'string') {
    throw invalid(`${field}.description`, 'label description must be a string');
  }
  return { key: obj.key, value: obj.value, ...(obj.description !== undefined ? { description: obj.description } : {}) };
}

export const sameLabel = (a: LabelRecord, b: LabelRecord) => a.key === b.key && a.value === b.value;

/** A usage `period` is the start of a usage month: `YYYY-MM-01`, optionally as midnight UTC date-time. */
export function parsePeriod(period: string | null): Date {
  if (period === null || period === '') throw invalid('period', 'period is required (start of the usage month, e.g. 2021-02-01)');
  const match = /^(\d{4})-(\d{2})-01(?:T00:00(?::00(?:\.0+)?)?Z)?$/.exec(period);
  const month = match ? Number(match[2]) : 0;
  if (!match || month < 1 || month > 12) {
    throw invalid('period', `period must be the first day of a month as ISO-8601 (e.g. 2021-02-01), got "${period}"`);
  }
  return new Date(Date.UTC(Number(match[1]), month - 1, 1));
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Delivery-metrics windows per granularity (#11): max range, oldest start, default lookback. */
export const METRIC_WINDOWS: Record<string, { maxRangeMs: number; oldestMs: number; defaultBackMs: number }> = {
  MINUTE: { maxRangeMs: 4 * HOUR, oldestMs: 48 * HOUR, defaultBackMs: HOUR },
  HOUR: { maxRangeMs: 7 * DAY, oldestMs: 7 * DAY, defaultBackMs: 7 * DAY },
  // The spec's default start for DAY is 30 days back, past its own 14-day limit: a DAY request without a start
  // is refused, as it would be by Segment (docs/segment-public-api.md, delivery metrics windows).
  DAY: { maxRangeMs: 14 * DAY, oldestMs: 14 * DAY, defaultBackMs: 30 * DAY },
};

export function parseTime(text: string | null, field: string): number | undefined {
  if (text === null || text === '') return undefined;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(ms)) throw invalid(field, `${field} must be an ISO-8601 date-time`);
  return ms;
}
