/**
 * CSV column rules: how one CSV record becomes a raw Segment message (then validated by message-schema).
 *
 * The header is checked once per file (compileCsvHeader); a bad header stops the import before any
 * row is sent, naming the column. Rows then go through a precompiled mapper.
 *
 * Header names are trimmed, and a UTF-8 byte-order mark on the first one is removed (Excel writes one).
 * Names are case-sensitive, as Segment's field names are.
 *
 * 1. Top-level columns, mapped as is (text values):
 *      type, userId, anonymousId, event, name, category, groupId, previousId, timestamp, messageId
 *    and the server-set columns of a Segment export (receivedAt, sentAt, originalTimestamp, ...), which the
 *    message rules drop (message-schema.ts). Columns named by `ignore` (`--ignore-column`) are skipped.
 * 2. JSON columns: properties, traits, context, integrations. The cell holds a JSON object,
 *      e.g. {"revenue": 9.5, "items": [1, 2]}.
 * 3. Dotted columns: properties.<path>, traits.<path>, context.<path>, integrations.<path>, any depth,
 *      e.g. properties.revenue, traits.email, context.ip, context.page.url, integrations.All.
 *      Keys that contain a dot cannot be written this way: use the JSON column for them.
 *    Values are text, unless the header ends in a type suffix:
 *      :number   decimal number (e.g. -1.5, 2e3); leading/trailing spaces ignored; no hex, no Infinity
 *      :boolean  true or false (any letter case); leading/trailing spaces ignored
 *      :json     any JSON value (object, array, number, string, true/false, null)
 *      :string   text (the default, for headers whose key really ends in ":number" and the like)
 *    e.g. properties.revenue:number, traits.vip:boolean, properties.items:json.
 *    A colon not followed by one of these four words is part of the key (properties.utm:source).
 * 4. When a JSON column and dotted columns fill the same object, the JSON object is read first and the
 *    dotted columns are written into it: a dotted column wins over the same key in the JSON. A dotted
 *    column that would have to descend into a JSON value that is not an object rejects the row.
 * 5. An empty cell means "field absent", in every kind of column (so an empty string cannot be sent).
 *    Non-empty text is kept exactly, spaces included.
 * 6. Any other column is a header error: segflow never drops data silently, so a column it does not know
 *    (a typo such as user_id, or an extra export column) must be removed or renamed before importing.
 *    Duplicate columns, and a dotted column that is a prefix of another (properties.a and properties.a.b),
 *    are header errors too.
 *
 * Pure: no I/O, safe anywhere.
 */
import { SERVER_SET_FIELDS } from './types';
import { clipText } from '../shared/safe-text';

export const CSV_TOP_LEVEL_COLUMNS = [
  'type',
  'userId',
  'anonymousId',
  'event',
  'name',
  'category',
  'groupId',
  'previousId',
  'timestamp',
  'messageId',
] as const;

export const CSV_OBJECT_ROOTS = ['properties', 'traits', 'context', 'integrations'] as const;
type ObjectRoot = (typeof CSV_OBJECT_ROOTS)[number];

export type CsvValueType = 'string' | 'number' | 'boolean' | 'json';

/** How one header column is read. */
export type CsvColumn =
  | { kind: 'top'; header: string; field: string }
  | { kind: 'ignored'; header: string }
  | { kind: 'json'; header: string; root: ObjectRoot }
  | { kind: 'dotted'; header: string; root: ObjectRoot; path: string[]; valueType: CsvValueType };

export type CsvRowResult = { ok: true; raw: Record<string, unknown> } | { ok: false; field: string; reason: string };

export interface CompiledCsvHeader {
  columns: readonly CsvColumn[];
  /** Maps one record (values in header order) to a raw message object. */
  map: (values: readonly string[]) => CsvRowResult;
}

export interface CsvHeaderError {
  /** The header name as written (after trimming), or `(header)` for problems with the header as a whole. */
  column: string;
  error: string;
}

// Server-set columns of a Segment export (warehouse dumps, Debugger copies) map like any top-level field;
// validateMessage then drops them (message-schema.ts SERVER_SET_FIELDS).
const TOP_LEVEL = new Set<string>([...CSV_TOP_LEVEL_COLUMNS, ...SERVER_SET_FIELDS]);
const ROOTS = new Set<string>(CSV_OBJECT_ROOTS);
const TYPE_SUFFIX = /:(string|number|boolean|json)$/;
// Assigning this key on a plain object replaces its prototype instead of adding a property.
const FORBIDDEN_KEYS = new Set(['__proto__']);
// Linear: the fraction's digits can only start after a '.', so no split of a digit run is ever retried (the
// earlier \d+\.?\d* tried every split and took quadratic time on a long digit run ending in a letter).
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
/** No decimal a person means is longer; checked before any matching, so a huge cell costs nothing. */
const MAX_NUMBER_CELL_LENGTH = 100;
/** Longer header names are not column names; refused before any matching, which bounds every row message too. */
const MAX_HEADER_NAME_LENGTH = 200;
/** Longest column name echoed in a header error (the "header" may be the first line of any file). */
const MAX_QUOTED_HEADER = 60;

export function isCsvHeaderError(value: CompiledCsvHeader | CsvHeaderError): value is CsvHeaderError {
  return 'error' in value;
}

/** Normalises header names: trim, and drop a UTF-8 BOM on the first one. */
export function normaliseCsvHeader(header: readonly string[]): string[] {
  return header.map((name, i) => (i === 0 && name.charCodeAt(0) === 0xfeff ? name.slice(1) : name).trim());
}

function parseColumn(header: string, index: number, ignore: ReadonlySet<string>): CsvColumn | CsvHeaderError {
  if (header.length > MAX_HEADER_NAME_LENGTH) {
    return {
      column: quote(header),
      error: `column ${index + 1}'s header name is ${header.length} characters long (at most ${MAX_HEADER_NAME_LENGTH}): "${quote(header)}"`,
    };
  }
  if (header === '') return { column: `(column ${index + 1})`, error: `column ${index + 1} has an empty header name` };
  if (ignore.has(header)) return { kind: 'ignored', header };
  if (TOP_LEVEL.has(header)) return { kind: 'top', header, field: header };
  if (ROOTS.has(header)) return { kind: 'json', header, root: header as ObjectRoot };

  const dot = header.indexOf('.');
  const rootName = dot === -1 ? header : header.slice(0, dot);
  if (dot === -1 || !ROOTS.has(rootName)) return { column: quote(header), error: unknownColumnMessage(header) };

  const suffix = TYPE_SUFFIX.exec(header);
  const valueType = (suffix?.[1] ?? 'string') as CsvValueType;
  const pathText = suffix === null ? header.slice(dot + 1) : header.slice(dot + 1, header.length - suffix[0].length);
  const path = pathText.split('.');
  if (path.some((key) => key === '')) {
    return { column: quote(header), error: `column "${quote(header)}" has an empty key in its dotted path` };
  }
  const forbidden = path.find((key) => FORBIDDEN_KEYS.has(key));
  if (forbidden !== undefined) {
    return {
      column: quote(header),
      error: `column "${quote(header)}" uses the reserved key "${forbidden}"; use the ${rootName} JSON column instead`,
    };
  }
  return { kind: 'dotted', header, root: rootName as ObjectRoot, path, valueType };
}

function unknownColumnMessage(header: string): string {
  const lower = header.toLowerCase().replace(/_/g, '');
  const known = [...CSV_TOP_LEVEL_COLUMNS, ...CSV_OBJECT_ROOTS];
  const suggestion = known.find((name) => name.toLowerCase() === lower);
  const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
  return (
    `unknown column "${quote(header)}"${hint}: columns must be ${CSV_TOP_LEVEL_COLUMNS.join(', ')}, ` +
    `a JSON column (${CSV_OBJECT_ROOTS.join(', ')}) or a dotted column such as properties.revenue`
  );
}

/** Finds duplicate headers and dotted columns that would write into one another. */
function findConflict(columns: readonly CsvColumn[]): CsvHeaderError | undefined {
  const seen = new Set<string>();
  const leafPaths = new Map<string, string>();
  for (const column of columns) {
    const key = column.kind === 'dotted' ? `${column.root}.${column.path.join('.')}` : column.header;
    if (seen.has(key))
      return { column: quote(column.header), error: `column "${quote(column.header)}" appears twice (or twice with different type suffixes)` };
    seen.add(key);
    if (column.kind === 'dotted') leafPaths.set(key, column.header);
  }
  for (const [path, header] of leafPaths) {
    for (const [otherPath, otherHeader] of leafPaths) {
      if (otherPath.startsWith(`${path}.`)) {
        return {
          column: quote(otherHeader),
          error: `column "${quote(otherHeader)}" writes inside "${quote(header)}", which is a value, not an object`,
        };
      }
    }
  }
  return undefined;
}

/** Validates the header once and returns the row mapper, or the first header problem. */
export function compileCsvHeader(header: readonly string[], options: { ignore?: readonly string[] } = {}): CompiledCsvHeader | CsvHeaderError {
  if (header.length === 0) return { column: '(header)', error: 'the CSV header is empty' };
  const names = normaliseCsvHeader(header);
  const ignore = new Set(options.ignore ?? []);
  const columns: CsvColumn[] = [];
  for (let i = 0; i < names.length; i++) {
    const parsed = parseColumn(names[i] ?? '', i, ignore);
    if ('error' in parsed) return parsed;
    columns.push(parsed);
  }
  const conflict = findConflict(columns);
  if (conflict !== undefined) return conflict;
  return { columns, map: buildMapper(columns) };
}

type Indexed<T> = T & { index: number };

function buildMapper(columns: readonly CsvColumn[]): (values: readonly string[]) => CsvRowResult {
  const top: Indexed<Extract<CsvColumn, { kind: 'top' }>>[] = [];
  const json: Indexed<Extract<CsvColumn, { kind: 'json' }>>[] = [];
  const dotted: Indexed<Extract<CsvColumn, { kind: 'dotted' }>>[] = [];
  columns.forEach((column, index) => {
    if (column.kind === 'top') top.push({ ...column, index });
    else if (column.kind === 'json') json.push({ ...column, index });
    else if (column.kind === 'dotted') dotted.push({ ...column, index });
  });
  const width = columns.length;

  return (values) => {
    if (values.length !== width) {
      return { ok: false, field: '(row)', reason: `row has ${values.length} fields but the header has ${width}` };
    }
    const raw: Record<string, unknown> = {};
    for (const column of top) {
      const value = values[column.index] as string;
      if (value !== '') raw[column.field] = value;
    }
    // JSON columns first, so dotted columns are written into (and win over) their objects.
    for (const column of json) {
      const cell = values[column.index] as string;
      if (cell === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(cell);
      } catch (error) {
        return { ok: false, field: column.header, reason: `${column.header} is not valid JSON: ${(error as Error).message}` };
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return { ok: false, field: column.header, reason: `${column.header} must hold a JSON object` };
      }
      raw[column.root] = parsed;
    }
    for (const column of dotted) {
      const cell = values[column.index] as string;
      if (cell === '') continue;
      const value = convertCell(cell, column.valueType);
      if (value instanceof CellError) return { ok: false, field: column.header, reason: `${column.header} ${value.message}` };
      const problem = setPath(raw, column.root, column.path, value);
      if (problem !== undefined) return { ok: false, field: column.header, reason: problem };
    }
    return { ok: true, raw };
  };
}

class CellError {
  constructor(readonly message: string) {}
}

function convertCell(cell: string, valueType: CsvValueType): unknown {
  switch (valueType) {
    case 'string':
      return cell;
    case 'number': {
      if (cell.length > MAX_NUMBER_CELL_LENGTH)
        return new CellError(`must be a decimal number, got ${cell.length} characters ("${clipText(cell, 40)}")`);
      const text = cell.trim();
      const value = Number(text);
      if (!DECIMAL.test(text) || !Number.isFinite(value)) return new CellError(`must be a decimal number, got "${clipText(cell, 40)}"`);
      return value;
    }
    case 'boolean': {
      const text = cell.trim().toLowerCase();
      if (text === 'true') return true;
      if (text === 'false') return false;
      return new CellError(`must be true or false, got "${clipText(cell, 40)}"`);
    }
    case 'json':
      try {
        return JSON.parse(cell);
      } catch (error) {
        return new CellError(`is not valid JSON: ${(error as Error).message}`);
      }
  }
}

function isObjectNode(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setPath(raw: Record<string, unknown>, root: ObjectRoot, path: readonly string[], value: unknown): string | undefined {
  let node = raw[root];
  if (node === undefined) {
    node = {};
    raw[root] = node;
  }
  let target = node as Record<string, unknown>;
  const last = path.length - 1;
  for (let i = 0; i < last; i++) {
    const key = path[i] as string;
    const next = Object.hasOwn(target, key) ? target[key] : undefined;
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      target[key] = created;
      target = created;
    } else if (isObjectNode(next)) {
      target = next;
    } else {
      const at = [root, ...path.slice(0, i + 1)].join('.');
      return `cannot set ${root}.${path.join('.')}: the ${root} JSON column holds a non-object value at ${at}`;
    }
  }
  target[path[last] as string] = value;
  return undefined;
}

/** A column name as quoted in an error: clipped, since the "header" may be the first line of any file. */
function quote(header: string): string {
  return header.length > MAX_QUOTED_HEADER ? `${header.slice(0, MAX_QUOTED_HEADER - 3)}...` : header;
}
