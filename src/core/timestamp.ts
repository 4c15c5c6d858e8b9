/**
 * The event-time rule of an import: which timestamp texts are accepted (ISO-8601 date-times with a zone, or dates),
 * and their canonical form. Pure; src/core/message-schema.ts applies it to every row.
 */
import { clipText } from '../shared/safe-text';

const TIMESTAMP_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

export type ParsedTimestamp = { ok: true; iso: string; epochMs: number } | { ok: false; reason: string };

/** Parses the timestamp forms accepted above into epoch ms and canonical ISO form. */
export function parseTimestamp(text: string): ParsedTimestamp {
  // Hot path: most exports already hold canonical toISOString() text, which is checked by character
  // codes without allocating; anything else (or anything odd) takes the general path below.
  const canonicalMs = parseCanonicalTimestamp(text);
  if (canonicalMs !== undefined) return { ok: true, iso: text, epochMs: canonicalMs };
  const m = TIMESTAMP_PATTERN.exec(text);
  if (m === null) {
    return {
      ok: false,
      reason: `timestamp "${clipText(text, 60)}" is not an ISO-8601 date-time like 2024-03-01T12:00:00Z or a date like 2024-03-01`,
    };
  }
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return { ok: false, reason: `timestamp "${clipText(text, 60)}" is not a real calendar date` };
  }
  let epochMs: number;
  if (m[4] === undefined) {
    epochMs = Date.UTC(year, month - 1, day);
  } else {
    const zone = m[8];
    if (zone === undefined) {
      return { ok: false, reason: `timestamp "${clipText(text, 60)}" has no timezone; add Z (UTC) or an offset like +02:00` };
    }
    const hour = Number(m[4]);
    const minute = Number(m[5]);
    const second = m[6] === undefined ? 0 : Number(m[6]);
    // Leap seconds (:60) are rejected: Date cannot represent them and they are rare enough to fix by hand.
    if (hour > 23 || minute > 59 || second > 59) {
      return { ok: false, reason: `timestamp "${clipText(text, 60)}" has a time of day out of range` };
    }
    const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
    let offsetMinutes = 0;
    if (zone !== 'Z' && zone !== 'z') {
      const offsetHours = Number(zone.slice(1, 3));
      const offsetRest = zone.length > 3 ? Number(zone.slice(zone.length - 2)) : 0;
      if (offsetHours > 23 || offsetRest > 59) {
        return { ok: false, reason: `timestamp "${clipText(text, 60)}" has an invalid UTC offset` };
      }
      offsetMinutes = (zone[0] === '-' ? -1 : 1) * (offsetHours * 60 + offsetRest);
    }
    epochMs = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  }
  if (epochMs < 0) {
    return { ok: false, reason: `timestamp "${clipText(text, 60)}" is before 1970-01-01, which is almost always a placeholder date` };
  }
  return { ok: true, iso: new Date(epochMs).toISOString(), epochMs };
}

const CANONICAL_DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

/**
 * Whether `text` is a valid `YYYY-MM-DDTHH:MM:SS.mmmZ` from 1970 on, which parseTimestamp accepts as its own canonical
 * form. Checked by character codes without allocating; the fast path of row validation needs no more than this.
 */
export function isCanonicalTimestamp(text: string): boolean {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 /* - */ ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 /* T */ ||
    text.charCodeAt(13) !== 58 /* : */ ||
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 /* . */ ||
    text.charCodeAt(23) !== 90 /* Z */
  ) {
    return false;
  }
  for (const i of CANONICAL_DIGIT_POSITIONS) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  return (
    year >= 1970 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    digitsAt(text, 11, 2) <= 23 &&
    digitsAt(text, 14, 2) <= 59 &&
    digitsAt(text, 17, 2) <= 59
  );
}

/** Epoch ms of a canonical timestamp (isCanonicalTimestamp), else undefined. */
function parseCanonicalTimestamp(text: string): number | undefined {
  if (!isCanonicalTimestamp(text)) return undefined;
  return Date.UTC(
    digitsAt(text, 0, 4),
    digitsAt(text, 5, 2) - 1,
    digitsAt(text, 8, 2),
    digitsAt(text, 11, 2),
    digitsAt(text, 14, 2),
    digitsAt(text, 17, 2),
    digitsAt(text, 20, 3),
  );
}
