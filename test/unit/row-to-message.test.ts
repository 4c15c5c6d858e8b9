import { describe, it, expect } from 'vitest';
import { deriveMessageId, messageIdNamespace } from '../../src/core/message-id';
import { CsvHeaderError, RowConverter, type ConvertResult, type RowConverterOptions } from '../../src/core/row-to-message';

const namespace = messageIdNamespace('row-to-message-test');
const now = new Date('2024-06-01T00:00:00.000Z');
const ts = '2024-01-02T03:04:05.000Z';

function ndjson(overrides: Partial<RowConverterOptions> = {}): RowConverter {
  return new RowConverter({ format: 'ndjson', namespace, allowMissingTimestamp: false, maxEventBytes: 32_000, now, ...overrides });
}

const CSV_HEADER = [
  'type',
  'userId',
  'anonymousId',
  'event',
  'name',
  'groupId',
  'previousId',
  'timestamp',
  'messageId',
  'properties.revenue:number',
  'traits',
  'context.ip',
];

function csv(overrides: Partial<RowConverterOptions> = {}): RowConverter {
  return new RowConverter({
    format: 'csv',
    csvHeader: CSV_HEADER,
    namespace,
    allowMissingTimestamp: false,
    maxEventBytes: 32_000,
    now,
    ...overrides,
  });
}

/** Builds CSV values from a sparse object keyed by header name, plus a plausible raw line. */
function csvRow(cells: Record<string, string>): [string, string[]] {
  const values = CSV_HEADER.map((h) => cells[h] ?? '');
  return [values.join(','), values];
}

function expectOk(result: ConvertResult) {
  if (!result.ok) throw new Error(`unexpected reject: ${result.reject.field}: ${result.reject.reason}`);
  return result;
}

/** The message a converted row sends. */
function sentMessage(result: ConvertResult): Record<string, unknown> {
  return JSON.parse(expectOk(result).serialized) as Record<string, unknown>;
}

describe('NDJSON rows', () => {
  it('converts a valid row, derives a deterministic messageId, and sends exactly that message', () => {
    const raw = `{"type":"track","userId":"u1","event":"Order Completed","timestamp":"${ts}","properties":{"revenue":9.5,"name":"Zoë 😀"}}`;
    const result = expectOk(ndjson().convert(12, raw));
    expect(sentMessage(result)).toEqual({
      type: 'track',
      userId: 'u1',
      event: 'Order Completed',
      timestamp: ts,
      properties: { revenue: 9.5, name: 'Zoë 😀' },
      messageId: deriveMessageId(namespace, 12, raw),
    });
    expect(result.event).toMatchObject({ type: 'track', messageId: deriveMessageId(namespace, 12, raw), timestamp: ts });
    expect(ndjson().convert(12, raw)).toEqual(result);
  });

  it('gives different ids to identical rows on different lines', () => {
    const raw = `{"type":"identify","userId":"u","timestamp":"${ts}"}`;
    const a = expectOk(ndjson().convert(1, raw));
    const b = expectOk(ndjson().convert(2, raw));
    expect(a.event.messageId).not.toBe(b.event.messageId);
  });

  it("keeps the row's own messageId", () => {
    const result = expectOk(ndjson().convert(1, `{"type":"identify","userId":"u","timestamp":"${ts}","messageId":"mine-1"}`));
    expect(result.event.messageId).toBe('mine-1');
  });

  it('never puts sentAt on an event', () => {
    const result = expectOk(ndjson().convert(1, `{"type":"identify","userId":"u","timestamp":"${ts}"}`));
    expect(result.serialized).not.toContain('sentAt');
  });

  it('coerces numeric ids to strings', () => {
    const result = expectOk(ndjson().convert(1, `{"type":"identify","userId":12345,"timestamp":"${ts}"}`));
    expect(sentMessage(result).userId).toBe('12345');
    expect(result.serialized).toContain('"userId":"12345"');
  });

  it('tolerates a UTF-8 BOM before the first line', () => {
    expectOk(ndjson().convert(1, `\uFEFF{"type":"identify","userId":"u","timestamp":"${ts}"}`));
  });

  it('sends a row without timestamp only when allowed', () => {
    const raw = '{"type":"identify","userId":"u"}';
    expect(ndjson().convert(1, raw)).toMatchObject({ ok: false, reject: { field: 'timestamp' } });
    expect(sentMessage(ndjson({ allowMissingTimestamp: true }).convert(1, raw))).not.toHaveProperty('timestamp');
  });

  const rejects: Array<[string, string, string, RegExp]> = [
    ['invalid JSON', '{"type":', '(line)', /line is not valid JSON/],
    ['empty line', '', '(line)', /not valid JSON/],
    ['JSON array', '[1,2]', '(line)', /must hold a JSON object, got an array/],
    ['JSON string', '"track"', '(line)', /got a string/],
    ['JSON null', 'null', '(line)', /got null/],
    ['missing type', `{"userId":"u","timestamp":"${ts}"}`, 'type', /type is required/],
    ['bad type', `{"type":"click","userId":"u","timestamp":"${ts}"}`, 'type', /not one of/],
    ['no identity', `{"type":"identify","timestamp":"${ts}"}`, 'userId', /need a userId or an anonymousId/],
    ['empty anonymousId', `{"type":"identify","anonymousId":"","timestamp":"${ts}"}`, 'anonymousId', /must not be empty/],
    ['unsafe numeric userId', `{"type":"identify","userId":12345678901234567890,"timestamp":"${ts}"}`, 'userId', /quote it as a string/],
    ['track without event', `{"type":"track","userId":"u","timestamp":"${ts}"}`, 'event', /non-empty event/],
    ['group without groupId', `{"type":"group","userId":"u","timestamp":"${ts}"}`, 'groupId', /need a groupId/],
    ['alias without previousId', `{"type":"alias","userId":"u","timestamp":"${ts}"}`, 'previousId', /need a previousId/],
    ['alias without userId', `{"type":"alias","previousId":"p","timestamp":"${ts}"}`, 'userId', /need a userId/],
    ['non-string name', `{"type":"page","userId":"u","name":1,"timestamp":"${ts}"}`, 'name', /must be a string/],
    ['properties not an object', `{"type":"track","userId":"u","event":"E","properties":[],"timestamp":"${ts}"}`, 'properties', /JSON object/],
    ['traits not an object', `{"type":"identify","userId":"u","traits":"x","timestamp":"${ts}"}`, 'traits', /JSON object/],
    ['context not an object', `{"type":"identify","userId":"u","context":1,"timestamp":"${ts}"}`, 'context', /JSON object/],
    ['integrations not an object', `{"type":"identify","userId":"u","integrations":true,"timestamp":"${ts}"}`, 'integrations', /JSON object/],
    ['messageId too long', `{"type":"identify","userId":"u","messageId":"${'m'.repeat(101)}","timestamp":"${ts}"}`, 'messageId', /100 characters/],
    ['unknown key', `{"type":"identify","userId":"u","email":"a@b.c","timestamp":"${ts}"}`, 'email', /unknown field "email"/],
    ['timestamp missing', '{"type":"identify","userId":"u"}', 'timestamp', /required/],
    ['timestamp without zone', '{"type":"identify","userId":"u","timestamp":"2024-01-02T03:04:05"}', 'timestamp', /no timezone/],
    ['timestamp in the future', '{"type":"identify","userId":"u","timestamp":"2024-07-01T00:00:00Z"}', 'timestamp', /in the future/],
  ];
  it.each(rejects)('rejects %s', (_label, raw, field, reason) => {
    const result = ndjson().convert(5, raw);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reject).toMatchObject({ line: 5, field, raw });
      expect(result.reject.reason).toMatch(reason);
    }
  });

  it('rejects events over maxEventBytes, naming size and limit, and accepts one exactly at it', () => {
    const raw = `{"type":"track","userId":"u","event":"E","timestamp":"${ts}","properties":{"blob":"${'é'.repeat(200)}"}}`;
    const size = Buffer.byteLength(expectOk(ndjson().convert(1, raw)).serialized);
    expectOk(ndjson({ maxEventBytes: size }).convert(1, raw));
    const result = ndjson({ maxEventBytes: size - 1 }).convert(1, raw);
    expect(result).toMatchObject({ ok: false, reject: { field: '(message)', line: 1 } });
    if (!result.ok) expect(result.reject.reason).toContain(`${size} bytes, above the limit of ${size - 1} bytes`);
  });

  it('uses one clock for the whole converter (defaults to construction time)', () => {
    const converter = ndjson({ now: undefined });
    expectOk(converter.convert(1, `{"type":"identify","userId":"u","timestamp":"${new Date().toISOString()}"}`));
    const nextYear = new Date(Date.now() + 365 * 86_400_000).toISOString();
    expect(converter.convert(1, `{"type":"identify","userId":"u","timestamp":"${nextYear}"}`)).toMatchObject({
      ok: false,
      reject: { field: 'timestamp' },
    });
  });
});

describe('NDJSON rows that are plainly valid go out as written', () => {
  const converter = ndjson();
  const sent = (raw: string, line = 7) => expectOk(converter.convert(line, raw)).serialized;
  const row = `{"type":"track","userId":"u1","event":"Order Completed","timestamp":"${ts}","properties":{"revenue":9.50,"name":"Zo\\u00eb"}}`;
  /** What JSON.parse's path sends: the message, compact, in the schema's key order (type first). */
  const isSerializedMessage = (serialized: string) => serialized.startsWith('{"type":') && JSON.stringify(JSON.parse(serialized)) === serialized;

  it('puts only the derived messageId in front of the row, and counts what it sends', () => {
    const id = deriveMessageId(namespace, 7, row);
    const result = expectOk(converter.convert(7, row));
    expect(result.serialized).toBe(`{"messageId":"${id}",${row.slice(1)}`);
    expect(result).toMatchObject({ idDerived: true, event: { type: 'track', messageId: id, timestamp: ts } });
    expect(result.serverFields).toBeUndefined();
  });

  it('sends a row with its own messageId as it is, spacing included', () => {
    const spaced = `  { "type" : "identify", "messageId" : "m-1", "userId" : "u", "timestamp" : "${ts}" }  `;
    expect(sent(spaced)).toBe(spaced);
    expect(expectOk(converter.convert(1, spaced))).toMatchObject({ idDerived: false, event: { messageId: 'm-1' } });
  });

  it('keeps every digit of integers past 2^53, which JSON.parse rounds', () => {
    const big = `{"type":"track","userId":"u","event":"Paid","timestamp":"${ts}","properties":{"orderId":12345678901234567891}}`;
    expect(sent(big)).toContain('"orderId":12345678901234567891}');
  });

  it('cuts the server-set members and context.library out of an exported row, with their commas', () => {
    const exported =
      `{"receivedAt":"${ts}","type":"track","sentAt":null,"userId":"u","event":"E","context":{"library":{"name":"analytics.js"},` +
      `"ip":"1.2.3.4","page":{"path":"/"}},"timestamp":"${ts}","writeKey":"secret","_metadata":{"bundled":["Segment.io"]}}`;
    const result = expectOk(converter.convert(2, exported));
    const id = deriveMessageId(namespace, 2, exported);
    expect(result.serialized).toBe(
      `{"messageId":"${id}","type":"track","userId":"u","event":"E","context":{"ip":"1.2.3.4","page":{"path":"/"}},"timestamp":"${ts}"}`,
    );
    expect(result.serverFields).toEqual(['receivedAt', 'sentAt', 'writeKey', '_metadata', 'context.library']);
    const middle = `{"type":"identify","userId":"u","context":{"ip":"1.2.3.4", "library" : "x" ,"locale":"en"},"channel":"server","timestamp":"${ts}"}`;
    expect(JSON.parse(sent(middle))).toEqual({
      messageId: deriveMessageId(namespace, 7, middle),
      type: 'identify',
      userId: 'u',
      context: { ip: '1.2.3.4', locale: 'en' },
      timestamp: ts,
    });
  });

  it('writes a timestamp in canonical form in place of the one the row has, and leaves the rest as written', () => {
    const offset = '{"type":"identify","messageId":"m-2", "userId":"u","timestamp":"2024-01-02T05:04:05+02:00" ,"traits":{"n":1.50}}';
    expect(sent(offset)).toBe('{"type":"identify","messageId":"m-2", "userId":"u","timestamp":"2024-01-02T03:04:05.000Z" ,"traits":{"n":1.50}}');
    expect(expectOk(converter.convert(1, offset)).event.timestamp).toBe('2024-01-02T03:04:05.000Z');
  });

  // Each of these differs from its message in a way a cut cannot mend, or could read differently elsewhere: JSON.parse's
  // path builds the message and serializes it.
  const rewritten: Array<[string, string]> = [
    [
      'a repeated member (JSON.parse keeps the last; another reader may keep the first)',
      `{"type":"identify","userId":"u","timestamp":"bad","timestamp":"${ts}"}`,
    ],
    ['a repeated member spelled with an escape', `{"type":"identify","userId":"u","timestamp":"bad","time\\u0073tamp":"${ts}"}`],
    ['a context.library spelled with an escape', `{"type":"identify","userId":"u","timestamp":"${ts}","context":{"ip":"1","librar\\u0079":"x"}}`],
    ['a null field', `{"type":"identify","userId":"u","anonymousId":null,"timestamp":"${ts}"}`],
    ['a number id', `{"type":"identify","userId":42,"timestamp":"${ts}"}`],
    ['the event time taken from originalTimestamp', `{"type":"identify","userId":"u","originalTimestamp":"${ts}"}`],
    ['a context of nothing but library', `{"type":"identify","userId":"u","timestamp":"${ts}","context":{"library":{"name":"x"}}}`],
    ['a byte order mark', `\uFEFF{"type":"identify","userId":"u","timestamp":"${ts}"}`],
  ];
  it.each(rewritten)('serializes the message for %s', (_label, raw) => {
    expect(isSerializedMessage(sent(raw, 3))).toBe(true);
  });

  it('serializes every row when fields are to be ignored', () => {
    const raw = `{"type":"identify","userId":"u","timestamp":"${ts}","reason":"late"}`;
    const ignoring = ndjson({ ignoreFields: ['reason'] });
    expect(isSerializedMessage(expectOk(ignoring.convert(3, raw)).serialized)).toBe(true);
    expect(expectOk(ignoring.convert(3, raw)).serialized).not.toContain('reason');
    expect(isSerializedMessage(expectOk(ignoring.convert(3, row)).serialized)).toBe(true);
  });

  it('judges the size of the message, not of the spacing around it', () => {
    const spaced = `{"type":"identify",${' '.repeat(400)}"userId":"u","timestamp":"${ts}"}`;
    // The parse path's message: the schema's key order, a derived messageId added last.
    const compact = JSON.stringify({ type: 'identify', userId: 'u', timestamp: ts, messageId: deriveMessageId(namespace, 1, spaced) });
    const limit = Buffer.byteLength(compact);
    expect(expectOk(ndjson({ maxEventBytes: limit }).convert(1, spaced)).serialized).toBe(compact);
    expect(sent(spaced, 1).length).toBeGreaterThan(limit);
  });

  it('leaves rows without a timestamp, or with one in the future, to the path that words their rejection', () => {
    expect(converter.convert(1, '{"type":"identify","userId":"u"}')).toMatchObject({ ok: false, reject: { field: 'timestamp' } });
    expect(converter.convert(1, '{"type":"identify","userId":"u","timestamp":"2024-07-01T00:00:00.000Z"}')).toMatchObject({
      ok: false,
      reject: { field: 'timestamp' },
    });
  });
});

describe('CSV rows', () => {
  it('converts a valid row through the compiled header', () => {
    const [raw, values] = csvRow({
      type: 'track',
      userId: 'u1',
      event: 'Order Completed',
      timestamp: '2024-01-02',
      'properties.revenue:number': '9.5',
      'context.ip': '1.2.3.4',
    });
    const result = expectOk(csv().convert(3, raw, values));
    expect(sentMessage(result)).toEqual({
      type: 'track',
      userId: 'u1',
      event: 'Order Completed',
      timestamp: '2024-01-02T00:00:00.000Z',
      properties: { revenue: 9.5 },
      context: { ip: '1.2.3.4' },
      messageId: deriveMessageId(namespace, 3, raw),
    });
    expect(result.serialized).toBe(JSON.stringify(sentMessage(result)));
  });

  it('keeps the messageId column when filled', () => {
    const [raw, values] = csvRow({ type: 'identify', userId: 'u', timestamp: ts, messageId: 'csv-1' });
    expect(expectOk(csv().convert(2, raw, values)).event.messageId).toBe('csv-1');
  });

  const rejects: Array<[string, Record<string, string>, string, RegExp]> = [
    ['missing type', { userId: 'u', timestamp: ts }, 'type', /type is required/],
    ['bad type', { type: 'Identify', userId: 'u', timestamp: ts }, 'type', /not one of/],
    ['no identity', { type: 'identify', timestamp: ts }, 'userId', /need a userId or an anonymousId/],
    ['blank userId', { type: 'identify', userId: '  ', timestamp: ts }, 'userId', /must not be empty/],
    ['track without event', { type: 'track', userId: 'u', timestamp: ts }, 'event', /non-empty event/],
    ['group without groupId', { type: 'group', userId: 'u', timestamp: ts }, 'groupId', /need a groupId/],
    ['alias without previousId', { type: 'alias', userId: 'u', timestamp: ts }, 'previousId', /need a previousId/],
    ['alias without userId', { type: 'alias', previousId: 'p', timestamp: ts }, 'userId', /need a userId/],
    ['event on identify', { type: 'identify', userId: 'u', event: 'E', timestamp: ts }, 'event', /not a field of identify/],
    ['name on track', { type: 'track', userId: 'u', event: 'E', name: 'n', timestamp: ts }, 'name', /not a field of track/],
    [
      'properties on identify',
      { type: 'identify', userId: 'u', 'properties.revenue:number': '1', timestamp: ts },
      'properties',
      /not a field of identify/,
    ],
    ['traits on track', { type: 'track', userId: 'u', event: 'E', traits: '{"a":1}', timestamp: ts }, 'traits', /not a field of track/],
    ['messageId too long', { type: 'identify', userId: 'u', messageId: 'm'.repeat(101), timestamp: ts }, 'messageId', /100 characters/],
    ['timestamp missing', { type: 'identify', userId: 'u' }, 'timestamp', /required/],
    ['timestamp unparseable', { type: 'identify', userId: 'u', timestamp: '01/02/2024' }, 'timestamp', /not an ISO-8601/],
    ['timestamp without zone', { type: 'identify', userId: 'u', timestamp: '2024-01-02 03:04:05' }, 'timestamp', /no timezone/],
    ['timestamp in the future', { type: 'identify', userId: 'u', timestamp: '2030-01-01' }, 'timestamp', /in the future/],
    [
      'bad number cell',
      { type: 'track', userId: 'u', event: 'E', timestamp: ts, 'properties.revenue:number': '9,5' },
      'properties.revenue:number',
      /decimal number/,
    ],
    ['bad JSON cell', { type: 'identify', userId: 'u', timestamp: ts, traits: '{oops' }, 'traits', /not valid JSON/],
    ['JSON cell not an object', { type: 'identify', userId: 'u', timestamp: ts, traits: '[1]' }, 'traits', /must hold a JSON object/],
  ];
  it.each(rejects)('rejects %s', (_label, cells, field, reason) => {
    const [raw, values] = csvRow(cells);
    const result = csv().convert(9, raw, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reject).toMatchObject({ line: 9, field, raw });
      expect(result.reject.reason).toMatch(reason);
    }
  });

  it('rejects a record with the wrong number of fields', () => {
    expect(csv().convert(4, 'track,u', ['track', 'u'])).toMatchObject({ ok: false, reject: { line: 4, field: '(row)', raw: 'track,u' } });
  });

  it('throws CsvHeaderError naming the column when the header is unusable', () => {
    const build = () => csv({ csvHeader: ['type', 'userId', 'e-mail'] });
    expect(build).toThrow(CsvHeaderError);
    try {
      build();
    } catch (error) {
      expect((error as CsvHeaderError).column).toBe('e-mail');
      expect((error as CsvHeaderError).message).toMatch(/unknown column "e-mail"/);
    }
  });

  it('requires a header for CSV and values for each CSV row', () => {
    expect(() => new RowConverter({ format: 'csv', namespace, allowMissingTimestamp: false, maxEventBytes: 32_000 })).toThrow(
      /csvHeader is required/,
    );
    expect(() => csv().convert(1, 'x')).toThrow(/csvValues are required/);
  });
});

describe('Segment export rows', () => {
  const key = 'exported-write-key-123';

  it('sends neither the server-set fields nor the writeKey, and counts the row as having them', () => {
    const raw = `{"type":"track","userId":"u","event":"E","timestamp":"${ts}","sentAt":"${ts}","receivedAt":"${ts}","writeKey":"${key}","context":{"library":{"name":"analytics.js"}}}`;
    const result = expectOk(ndjson().convert(1, raw));
    expect(result.serialized).not.toContain(key);
    expect(result.serialized).not.toMatch(/sentAt|receivedAt|library/);
    expect(result.serverFields).toEqual(['receivedAt', 'sentAt', 'writeKey', 'context.library']);
  });

  it('masks a writeKey in the text of a rejected row', () => {
    const raw = `{"type":"track","userId":"u","timestamp":"${ts}","writeKey":"${key}"}`;
    const result = ndjson().convert(3, raw);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reject.field).toBe('event');
      expect(result.reject.raw).not.toContain(key);
      expect(result.reject.raw).toContain('"writeKey":"[writeKey removed]"');
    }
  });

  it('accepts the server-set columns of an exported CSV and drops them', () => {
    const converter = new RowConverter({
      format: 'csv',
      csvHeader: ['type', 'userId', 'event', 'originalTimestamp', 'receivedAt', 'sentAt', 'writeKey', 'context.library.name', 'messageId'],
      namespace,
      allowMissingTimestamp: false,
      maxEventBytes: 32_000,
      now,
    });
    const values = ['track', 'u', 'E', ts, ts, ts, key, 'analytics-ruby', 'm-1'];
    const result = expectOk(converter.convert(2, values.join(','), values));
    expect(sentMessage(result)).toEqual({ type: 'track', messageId: 'm-1', userId: 'u', event: 'E', timestamp: ts });
    expect(result.serverFields).toContain('writeKey');
  });

  it('ignores the columns and fields it is told to ignore, and still refuses other unknown ones', () => {
    const withReason = `{"type":"identify","userId":"u","timestamp":"${ts}","reason":"timestamp was wrong"}`;
    expect(ndjson().convert(1, withReason).ok).toBe(false);
    expect(expectOk(ndjson({ ignoreFields: ['reason'] }).convert(1, withReason)).serialized).not.toContain('reason');
    const header = ['type', 'userId', 'timestamp', 'reason'];
    expect(() => new RowConverter({ format: 'csv', csvHeader: header, namespace, allowMissingTimestamp: false, maxEventBytes: 32_000, now })).toThrow(
      /unknown column "reason"/,
    );
    const csvConverter = new RowConverter({
      format: 'csv',
      csvHeader: header,
      namespace,
      allowMissingTimestamp: false,
      maxEventBytes: 32_000,
      now,
      ignoreFields: ['reason'],
    });
    const values = ['identify', 'u', ts, 'fixed'];
    expect(sentMessage(csvConverter.convert(2, values.join(','), values))).toMatchObject({ type: 'identify', userId: 'u' });
  });
});
