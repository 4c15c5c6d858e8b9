import { describe, it, expect } from 'vitest';
import { compileCsvHeader, isCsvHeaderError, normaliseCsvHeader, type CompiledCsvHeader, type CsvRowResult } from '../../src/core/csv-mapping';

function compile(header: string[]): CompiledCsvHeader {
  const compiled = compileCsvHeader(header);
  if (isCsvHeaderError(compiled)) throw new Error(`unexpected header error: ${compiled.error}`);
  return compiled;
}

function mapRow(header: string[], values: string[]): CsvRowResult {
  return compile(header).map(values);
}

describe('compileCsvHeader: header rules', () => {
  it('accepts every top-level column, JSON column and dotted column form', () => {
    const header = [
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
      'properties',
      'traits',
      'context',
      'integrations',
      'properties.revenue:number',
      'traits.email',
      'context.page.url',
      'integrations.All:boolean',
      'properties.items:json',
      'properties.label:string',
    ];
    const compiled = compile(header);
    expect(compiled.columns).toHaveLength(header.length);
    expect(compiled.columns[14]).toEqual({
      kind: 'dotted',
      header: 'properties.revenue:number',
      root: 'properties',
      path: ['revenue'],
      valueType: 'number',
    });
    expect(compiled.columns[16]).toEqual({ kind: 'dotted', header: 'context.page.url', root: 'context', path: ['page', 'url'], valueType: 'string' });
  });

  it('trims names and strips a BOM from the first one', () => {
    expect(normaliseCsvHeader(['\uFEFFtype', ' userId ', 'event\t'])).toEqual(['type', 'userId', 'event']);
    const compiled = compile(['\uFEFF type', 'userId']);
    expect(compiled.map(['track', 'u'])).toEqual({ ok: true, raw: { type: 'track', userId: 'u' } });
  });

  it('keeps a colon that is not a type suffix as part of the key', () => {
    const compiled = compile(['properties.utm:source']);
    expect(compiled.columns[0]).toMatchObject({ path: ['utm:source'], valueType: 'string' });
  });

  const errors: Array<[string, string[], string, RegExp]> = [
    ['unknown column', ['type', 'foo'], 'foo', /unknown column "foo"/],
    ['snake_case id suggests the right name', ['user_id'], 'user_id', /did you mean "userId"\?/],
    ['wrong letter case suggests the right name', ['Event'], 'Event', /did you mean "event"\?/],
    ['unknown root of a dotted column', ['props.revenue'], 'props.revenue', /unknown column/],
    ['dotted top-level column', ['userId.x'], 'userId.x', /unknown column/],
    ['empty header name', ['type', ' '], '(column 2)', /column 2 has an empty header name/],
    ['empty key in dotted path', ['properties..a'], 'properties..a', /empty key/],
    ['trailing dot', ['properties.'], 'properties.', /empty key/],
    ['type suffix with no key', ['properties.:number'], 'properties.:number', /empty key/],
    ['prototype key', ['properties.__proto__.x'], 'properties.__proto__.x', /reserved key "__proto__"/],
    ['duplicate column', ['userId', 'userId'], 'userId', /appears twice/],
    ['duplicate dotted path with different suffixes', ['properties.a', 'properties.a:number'], 'properties.a:number', /appears twice/],
    ['duplicate after trimming', ['event', ' event'], 'event', /appears twice/],
    ['dotted column inside another one', ['properties.a', 'properties.a.b'], 'properties.a.b', /writes inside "properties.a"/],
    ['the same, in reverse order', ['properties.a.b:number', 'properties.a'], 'properties.a.b:number', /writes inside "properties.a"/],
    ['empty header', [], '(header)', /header is empty/],
  ];
  it.each(errors)('rejects: %s', (_label, header, column, error) => {
    const compiled = compileCsvHeader(header);
    expect(isCsvHeaderError(compiled)).toBe(true);
    if (isCsvHeaderError(compiled)) {
      expect(compiled.column).toBe(column);
      expect(compiled.error).toMatch(error);
    }
  });

  it('lets sibling paths share a prefix', () => {
    expect(isCsvHeaderError(compileCsvHeader(['properties.ab', 'properties.a', 'properties.a2.b']))).toBe(false);
  });
});

describe('row mapping', () => {
  const header = [
    'type',
    'userId',
    'anonymousId',
    'event',
    'timestamp',
    'properties.revenue:number',
    'properties.currency',
    'context.page.url',
    'traits.vip:boolean',
    'properties.items:json',
  ];

  it('maps a full row, nesting dotted columns', () => {
    const row = ['track', 'u1', '', 'Order Completed', '2024-01-02T03:04:05Z', '9.5', 'EUR', 'https://x.test/a', 'true', '[1,2]'];
    expect(mapRow(header, row)).toEqual({
      ok: true,
      raw: {
        type: 'track',
        userId: 'u1',
        event: 'Order Completed',
        timestamp: '2024-01-02T03:04:05Z',
        properties: { revenue: 9.5, currency: 'EUR', items: [1, 2] },
        context: { page: { url: 'https://x.test/a' } },
        traits: { vip: true },
      },
    });
  });

  it('treats empty cells as absent, leaving no empty objects behind', () => {
    expect(mapRow(header, ['identify', 'u1', '', '', '', '', '', '', '', ''])).toEqual({ ok: true, raw: { type: 'identify', userId: 'u1' } });
  });

  it('keeps non-empty text exactly, spaces included', () => {
    expect(mapRow(['userId', 'traits.name'], [' u1 ', ' Ann '])).toEqual({ ok: true, raw: { userId: ' u1 ', traits: { name: ' Ann ' } } });
  });

  const typed: Array<[string, string, string, unknown]> = [
    ['integer', 'properties.n:number', '42', 42],
    ['negative decimal', 'properties.n:number', '-1.5', -1.5],
    ['exponent', 'properties.n:number', '2e3', 2000],
    ['leading dot', 'properties.n:number', '.5', 0.5],
    ['spaces around a number', 'properties.n:number', ' 7 ', 7],
    ['TRUE', 'properties.b:boolean', 'TRUE', true],
    ['False', 'properties.b:boolean', ' False ', false],
    ['json object', 'properties.j:json', '{"a":[1]}', { a: [1] }],
    ['json null', 'properties.j:json', 'null', null],
    ['json string', 'properties.j:json', '"x"', 'x'],
    ['explicit string stays text', 'properties.s:string', '42', '42'],
    ['default string stays text', 'properties.s', 'true', 'true'],
  ];
  it.each(typed)('types a cell: %s', (_label, column, cell, value) => {
    const result = mapRow([column], [cell]);
    expect(result).toEqual({ ok: true, raw: { properties: { [column.slice('properties.'.length).replace(/:.*$/, '')]: value } } });
  });

  const bad: Array<[string, string, string, RegExp]> = [
    ['not a number', 'properties.n:number', 'abc', /properties\.n:number must be a decimal number, got "abc"/],
    ['hex is not a number', 'properties.n:number', '0x10', /decimal number/],
    ['Infinity is not a number', 'properties.n:number', 'Infinity', /decimal number/],
    ['overflow is not a number', 'properties.n:number', '1e999', /decimal number/],
    ['two numbers', 'properties.n:number', '1 2', /decimal number/],
    ['comma decimal', 'properties.n:number', '1,5', /decimal number/],
    ['yes is not a boolean', 'properties.b:boolean', 'yes', /must be true or false, got "yes"/],
    ['1 is not a boolean', 'properties.b:boolean', '1', /must be true or false/],
    ['bad JSON value', 'properties.j:json', '{a:1}', /properties\.j:json is not valid JSON/],
  ];
  it.each(bad)('rejects a cell: %s', (_label, column, cell, reason) => {
    const result = mapRow([column], [cell]);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.field).toBe(column);
      expect(result.reason).toMatch(reason);
    }
  });

  it('rejects rows whose width differs from the header', () => {
    expect(mapRow(['type', 'userId'], ['track'])).toEqual({ ok: false, field: '(row)', reason: 'row has 1 fields but the header has 2' });
    expect(mapRow(['type'], ['track', 'extra'])).toMatchObject({ ok: false, field: '(row)' });
  });
});

describe('JSON columns and their merge with dotted columns', () => {
  it('parses a JSON column', () => {
    expect(mapRow(['properties'], ['{"revenue":9.5,"tags":["a"]}'])).toEqual({ ok: true, raw: { properties: { revenue: 9.5, tags: ['a'] } } });
  });

  it('lets dotted columns win over the JSON column, whatever the column order', () => {
    const expected = { ok: true, raw: { properties: { a: 'dotted', b: 2, c: { d: 'x', e: 'y' } } } };
    expect(mapRow(['properties.a', 'properties', 'properties.c.e'], ['dotted', '{"a":"json","b":2,"c":{"d":"x"}}', 'y'])).toEqual(expected);
    expect(mapRow(['properties', 'properties.a', 'properties.c.e'], ['{"a":"json","b":2,"c":{"d":"x"}}', 'dotted', 'y'])).toEqual(expected);
  });

  it('rejects a dotted column that would descend into a JSON non-object', () => {
    const result = mapRow(['properties', 'properties.a.b'], ['{"a":5}', 'x']);
    expect(result).toEqual({
      ok: false,
      field: 'properties.a.b',
      reason: 'cannot set properties.a.b: the properties JSON column holds a non-object value at properties.a',
    });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['invalid JSON', '{"a":', /properties is not valid JSON/],
    ['array', '[1]', /properties must hold a JSON object/],
    ['number', '5', /must hold a JSON object/],
    ['null', 'null', /must hold a JSON object/],
  ];
  it.each(bad)('rejects a JSON column holding %s', (_label, cell, reason) => {
    const result = mapRow(['properties'], [cell]);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.field).toBe('properties');
      expect(result.reason).toMatch(reason);
    }
  });

  it('does not let a JSON __proto__ key redirect dotted writes', () => {
    const result = mapRow(['context', 'context.ip'], ['{"__proto__":{"polluted":1}}', '1.2.3.4']);
    expect(result.ok).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    if (result.ok) expect((result.raw['context'] as Record<string, unknown>)['ip']).toBe('1.2.3.4');
  });

  it('builds fresh objects for every row', () => {
    const compiled = compile(['properties', 'properties.x']);
    const first = compiled.map(['{"a":1}', '1']);
    const second = compiled.map(['{"a":2}', '2']);
    expect(first).toEqual({ ok: true, raw: { properties: { a: 1, x: '1' } } });
    expect(second).toEqual({ ok: true, raw: { properties: { a: 2, x: '2' } } });
  });
});

describe('hostile cells and headers', () => {
  // The 1 MiB :number cells are in test/unit/linear-time.test.ts, run in a child process with a deadline.
  it('still accepts ordinary decimals', () => {
    const compiled = compile(['type', 'userId', 'event', 'properties.n:number']);
    for (const [cell, value] of [
      ['1', 1],
      ['-1.5', -1.5],
      ['2e3', 2000],
      ['.5', 0.5],
      ['5.', 5],
      [' 7 ', 7],
      ['+3.25E-2', 0.0325],
    ] as const) {
      const result = compiled.map(['track', 'u', 'E', cell]);
      expect(result.ok && (result.raw.properties as { n: number }).n).toBe(value);
    }
    for (const cell of ['1e', 'e5', '.', '1..2', '0x10', 'Infinity', '1 2']) expect(compiled.map(['track', 'u', 'E', cell]).ok).toBe(false);
  });

  it('clips a column name quoted in a header error', () => {
    const secretLine = 'root:x:0:0:root:/root:/bin/bash' + 'A'.repeat(5000);
    const compiled = compileCsvHeader(['type', secretLine]);
    expect(isCsvHeaderError(compiled)).toBe(true);
    if (isCsvHeaderError(compiled)) {
      expect(compiled.error.length).toBeLessThan(400);
      expect(compiled.column.length).toBeLessThanOrEqual(64);
      expect(compiled.error).not.toContain('A'.repeat(100));
    }
  });
});
