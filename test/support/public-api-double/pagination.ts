/**
 * Cursor pagination as the double serves it: both query styles, 200 items by default, 1..1000 allowed, opaque
 * cursors that are base64 of the offset (like the reference's examples), `next`/`previous` null at the ends.
 */
import { invalid } from './validation';

/** Both pagination query styles (docs/segment-public-api.md, "Pagination"). */
export function paginationParam(query: URLSearchParams, name: 'count' | 'cursor'): string | null {
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

export function paginate<T>(items: T[], query: URLSearchParams): { page: T[]; pagination: Record<string, unknown> } {
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
