import { describe, expect, it } from 'vitest';
import { JobSpecError, parseJobSpecText, validateJobSpec } from '../../src/core/job-spec';

const FULL = `
name: retire the old web sources
steps:
  - name: label them
    op: add-labels
    targets: { name: "web-legacy-*" }
    labels: ["status:retired", { key: team, value: web, description: owners }]
    createMissingLabels: true
  - op: update-source
    targets: [src_1, src_2]
    set: { enabled: false, settings: { retention: 30 } }
  - op: create-write-key
    targets: src_3
  - op: remove-write-key
    targets: [src_3]
    writeKey: { fingerprint: "0123abcd4567" }
  - op: delete-source
    targets: [src_1]
    force: true
    continueOnError: true
  - op: list-sources
  - op: get-source
    targets: { labels: ["env:prod"] }
  - op: list-warehouses
    targets: [src_1]
  - op: schema-settings
    targets: [src_1]
  - op: get-destination
    destinationId: dst_1
  - op: delivery-metrics
    destinationId: dst_1
    sourceId: src_1
    granularity: HOUR
    startTime: "2024-05-01T00:00:00Z"
  - op: api-calls-usage
    period: "2024-05-01"
  - op: send
    source: web
    messages:
      - { type: track, userId: u1, event: Signed Up, timestamp: "2024-05-01T10:00:00Z" }
      - { type: alias, userId: u2, previousId: anon-1 }
`;

describe('parseJobSpecText: valid files', () => {
  it('parses every op and applies defaults', () => {
    const spec = parseJobSpecText(FULL);
    expect(spec.name).toBe('retire the old web sources');
    expect(spec.continueOnError).toBe(false);
    expect(spec.steps.map((step) => step.op)).toEqual([
      'add-labels',
      'update-source',
      'create-write-key',
      'remove-write-key',
      'delete-source',
      'list-sources',
      'get-source',
      'list-warehouses',
      'schema-settings',
      'get-destination',
      'delivery-metrics',
      'api-calls-usage',
      'send',
    ]);
    const [labels, update, create, remove, del] = spec.steps;
    expect(labels).toMatchObject({
      name: 'label them',
      targets: { name: 'web-legacy-*' },
      labels: [
        { key: 'status', value: 'retired' },
        { key: 'team', value: 'web', description: 'owners' },
      ],
      createMissingLabels: true,
    });
    expect(update).toMatchObject({
      name: 'update-source #2',
      targets: { sourceIds: ['src_1', 'src_2'] },
      set: { enabled: false, settings: { retention: 30 } },
    });
    expect(create).toMatchObject({ targets: { sourceIds: ['src_3'] } });
    expect(remove).toMatchObject({ writeKey: { fingerprint: '0123abcd4567' }, force: false });
    expect(del).toMatchObject({ force: true, continueOnError: true });
  });

  it('normalises send messages with the importer rules (timestamps become ISO UTC)', () => {
    const send = parseJobSpecText(FULL).steps.at(-1)!;
    expect(send).toMatchObject({ op: 'send', source: 'web' });
    if (send.op !== 'send') throw new Error('unreachable');
    expect(send.messages[0]).toMatchObject({ type: 'track', userId: 'u1', event: 'Signed Up', timestamp: '2024-05-01T10:00:00.000Z' });
    expect(send.messages[1]).toMatchObject({ type: 'alias', userId: 'u2', previousId: 'anon-1' });
  });

  it('reads JSON as well as YAML', () => {
    const spec = parseJobSpecText(JSON.stringify({ continueOnError: true, steps: [{ op: 'delete-source', targets: ['src_9'] }] }));
    expect(spec).toMatchObject({
      continueOnError: true,
      steps: [{ op: 'delete-source', name: 'delete-source #1', force: false, targets: { sourceIds: ['src_9'] } }],
    });
  });

  it('validateJobSpec accepts an already-parsed spec again (the activity re-validates workflow input)', () => {
    const spec = parseJobSpecText(FULL);
    const again = validateJobSpec(JSON.parse(JSON.stringify(spec)));
    expect(again.ok).toBe(true);
    if (again.ok) expect(again.spec).toEqual(spec);
  });
});

describe('parseJobSpecText: errors name the step and the field', () => {
  const cases: Array<[string, string, string[]]> = [
    ['unknown op', 'steps:\n  - name: x\n    op: frobnicate', ['step 1 of 1 ("x", frobnicate), field "op": unknown op "frobnicate"']],
    [
      'wrong type in a nested field',
      'steps:\n  - op: list-sources\n  - name: disable web\n    op: update-source\n    targets: [src_1]\n    set: { enabled: "no" }',
      ['step 2 of 2 ("disable web", update-source), field "set.enabled": Invalid input: expected boolean'],
    ],
    ['empty set', 'steps:\n  - op: update-source\n    targets: src_1\n    set: {}', ['step 1 of 1 (update-source), field "set": set at least one']],
    [
      'ids and selector together',
      'steps:\n  - op: get-source\n    targets: { sourceIds: [a], labels: ["a:b"] }',
      ['field "targets": use either sourceIds or a selector'],
    ],
    ['empty targets', 'steps:\n  - op: get-source\n    targets: {}', ['field "targets": name the sources']],
    ['missing targets', 'steps:\n  - op: get-source', ['step 1 of 1 (get-source), field "targets": is required']],
    ['bad fingerprint', 'steps:\n  - op: remove-write-key\n    targets: [a]\n    writeKey: { fingerprint: "XYZ" }', ['field "writeKey']],
    [
      'write key given as a string',
      'steps:\n  - op: remove-write-key\n    targets: [a]\n    writeKey: sk_live_secret',
      ['field "writeKey": name the key as {fingerprint'],
    ],
    ['unknown field in a step', 'steps:\n  - op: get-source\n    targets: [a]\n    sets: 1', ['field "sets": unknown field sets']],
    [
      'force where no guard rail exists',
      'steps:\n  - op: create-write-key\n    targets: [a]\n    force: true',
      ['field "force": unknown field force'],
    ],
    [
      'invalid tracking messages',
      'steps:\n  - op: send\n    messages:\n      - { type: track, userId: u1 }\n      - { type: identify }',
      ['step 1 of 1 (send), field "messages.0.event"', 'step 1 of 1 (send), field "messages.1.userId"'],
    ],
    ['no steps', 'steps: []', ['field "steps": a job needs at least one step']],
    [
      'workspace usage scope with sources',
      'steps:\n  - op: api-calls-usage\n    period: 2024-05-01\n    scope: workspace\n    sourceIds: [src_1]',
      ['field "scope": scope "workspace" counts the whole workspace'],
    ],
    ['period not a month start', 'steps:\n  - op: api-calls-usage\n    period: 2024-05-02', ['field "period": must be the first day of a month']],
    ['unknown top-level field', 'foo: 1\nsteps:\n  - op: list-sources', ['field "foo": unknown field foo']],
    [
      'label without colon',
      'steps:\n  - op: add-labels\n    targets: [a]\n    labels: ["nocolon"]',
      ['field "labels.0": a label is written "key:value"'],
    ],
    ['bad granularity', 'steps:\n  - op: delivery-metrics\n    destinationId: d\n    sourceId: s\n    granularity: WEEK', ['field "granularity"']],
    ['delivery metrics without sourceId', 'steps:\n  - op: delivery-metrics\n    destinationId: d', ['field "sourceId": is required']],
    // Every string has a length limit, and the error names the step and the field.
    [
      'an overlong step name',
      `steps:\n  - op: list-sources\n    name: ${'n'.repeat(101)}`,
      [`step 1 of 1 ("${'n'.repeat(60)}…(+41 chars)", list-sources), field "name": must be at most 100 characters`],
    ],
    [
      'an overlong name pattern',
      `steps:\n  - op: get-source\n    name: scan\n    targets: { name: "${'*'.repeat(201)}x" }`,
      ['step 1 of 1 ("scan", get-source), field "targets.name": must be at most 200 characters'],
    ],
    [
      'an overlong label key',
      `steps:\n  - op: add-labels\n    targets: [a]\n    labels: [{ key: ${'k'.repeat(101)}, value: v }]`,
      ['field "labels.0.key": must be at most 100 characters'],
    ],
    [
      'an id with control characters',
      'steps:\n  - op: get-source\n    targets: ["src_1\\e[2K"]',
      ['field "targets.sourceIds.0": an id is letters, digits'],
    ],
    [
      'an overlong description',
      `description: ${'d'.repeat(2001)}\nsteps:\n  - op: list-sources`,
      ['field "description": must be at most 2000 characters'],
    ],
    [
      'overlong settings',
      `steps:\n  - op: update-source\n    targets: [a]\n    set: { settings: { blob: "${'x'.repeat(17000)}" } }`,
      ['field "set.settings": settings are at most 16384 bytes'],
    ],
    ['not YAML', 'steps: [ {op: list-sources', ['not valid YAML/JSON']],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    let error: unknown;
    try {
      parseJobSpecText(text, 'job.yaml');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(JobSpecError);
    const message = (error as Error).message;
    expect(message.startsWith('job.yaml is invalid:')).toBe(true);
    for (const part of expected) expect(message).toContain(part);
  });

  it('carries structured issues', () => {
    const result = validateJobSpec({ steps: [{ op: 'update-source', name: 'n', targets: ['a'], set: { enabled: 1 } }] });
    expect(result).toEqual({
      ok: false,
      issues: [{ step: 1, stepName: 'n', op: 'update-source', field: 'set.enabled', message: expect.stringContaining('expected boolean') }],
    });
  });

  it('refuses a send step Segment would refuse: an event over 32 KB, or more than one 500 KB request', () => {
    const big = { type: 'track', userId: 'u', event: 'E', properties: { blob: 'x'.repeat(33_000) } };
    const one = validateJobSpec({ steps: [{ op: 'send', messages: [big] }] });
    expect(one).toMatchObject({ ok: false, issues: [{ step: 1, field: 'messages.0', message: expect.stringContaining('over 32 KB') }] });
    const medium = { type: 'track', userId: 'u', event: 'E', properties: { blob: 'x'.repeat(20_000) } };
    const many = validateJobSpec({ steps: [{ op: 'send', messages: Array.from({ length: 30 }, () => medium) }] });
    expect(many).toMatchObject({ ok: false, issues: [{ step: 1, field: 'messages', message: expect.stringContaining('split it') }] });
  });

  it('caps a send step at 100 messages', () => {
    const messages = Array.from({ length: 101 }, (_, i) => ({ type: 'track', userId: `u${i}`, event: 'E' }));
    const result = validateJobSpec({ steps: [{ op: 'send', messages }] });
    expect(result.ok).toBe(false);
  });
});
